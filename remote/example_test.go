//go:build linux

package remote_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/seed-e1024768/async/loop"
	"github.com/seed-e1024768/async/remote"
	"github.com/seed-e1024768/async/signer"
)

// embeddedSigner starts a signer in this process on loopback, with a
// fresh deployment in a temporary directory, as `asyncsignd init` and
// `asyncsignd serve` would; stop ends it and removes the directory, and
// the CA keys Init writes beside the deployment (signer.CADir).
func embeddedSigner() (dir, addr string, stop func()) {
	tmp, err := os.MkdirTemp("", "remote-example-")
	if err != nil {
		log.Fatal(err)
	}
	dir = filepath.Join(tmp, "deploy") // and deploy.ca beside it
	if err := signer.Init(dir); err != nil {
		log.Fatal(err)
	}
	srv, err := signer.New(signer.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(lis)
	return dir, lis.Addr().String(), func() { srv.Stop(time.Second); os.RemoveAll(tmp) }
}

// keyIDOf returns the key ID and public key of the deployment's
// certificate certs/name.pem.
func keyIDOf(dir, name string) (string, crypto.PublicKey) {
	cert, err := signer.ReadCert(dir, name)
	if err != nil {
		log.Fatal(err)
	}
	return remote.KeyID(cert.RawSubjectPublicKeyInfo), cert.PublicKey
}

// Example signs 200 messages with Ed25519 from one goroutine, 64 at a
// time: each is a job that pauses while its request is out, and the event
// loop resumes it when the engine's callback says the answer came.
func Example() {
	dir, addr, stop := embeddedSigner()
	defer stop()
	tlsCfg, err := signer.ClientTLS(dir) // signer-ca.pem, client.pem, client-key.pem
	if err != nil {
		log.Fatal(err)
	}
	e, err := remote.New(remote.Config{Addrs: []string{addr}, TLS: tlsCfg, Notify: remote.NotifyAuto})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	kid, pub := keyIDOf(dir, "ed25519")

	n, good := 0, 0
	err = loop.Run(context.Background(), loop.Config{Mode: loop.ModeCallback, InFlight: 64},
		func() (loop.Task, bool) {
			if n == 200 {
				return loop.Task{}, false
			}
			n++
			msg := fmt.Appendf(nil, "message %d", n)
			return loop.Task{Fn: func(ctx context.Context, _ []byte) int {
				sig, err := e.Sign(ctx, kid, remote.Ed25519, msg)
				if err != nil || !ed25519.Verify(pub.(ed25519.PublicKey), msg, sig) {
					return 0
				}
				return 1
			}}, true
		},
		func(r loop.Result) { good += r.Ret })
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(good, "signatures verify")
	// Output: 200 signatures verify
}

// ExampleEngine_Signer uses a remote key as a crypto.Signer; outside a job
// its Sign simply blocks.
func ExampleEngine_Signer() {
	dir, addr, stop := embeddedSigner()
	defer stop()
	tlsCfg, err := signer.ClientTLS(dir)
	if err != nil {
		log.Fatal(err)
	}
	e, err := remote.New(remote.Config{Addrs: []string{addr}, TLS: tlsCfg})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	kid, _ := keyIDOf(dir, "ecdsap256")

	var signer crypto.Signer
	signer, err = e.Signer(context.Background(), kid)
	if err != nil {
		log.Fatal(err)
	}
	digest := sha256.Sum256([]byte("hello"))
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verifies:", ecdsa.VerifyASN1(signer.Public().(*ecdsa.PublicKey), digest[:], sig))
	// Output: verifies: true
}
