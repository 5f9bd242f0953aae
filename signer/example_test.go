package signer_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/seed-e1024768/async/remote"
	"github.com/seed-e1024768/async/signer"
)

// memoryKeys is a KeyStore of keys the program holds: where a real one
// would ask an HSM or a KMS for its keys, each a crypto.Signer.
type memoryKeys []signer.Key

func (m memoryKeys) Keys() ([]signer.Key, error) { return m, nil }

// A signer embedded in a program, serving a key of the program's own
// KeyStore on loopback, and a client (package remote) that has a
// signature made with the key.
func Example() {
	// The deployment: the signer's TLS identity and the CA of its
	// clients' certificates (and a client identity). Its keys/ are not
	// served: Config.Keys replaces them.
	tmp, err := os.MkdirTemp("", "signer-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "deploy")
	if err := signer.Init(dir); err != nil {
		log.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}

	s, err := signer.New(signer.Config{Dir: dir, Keys: memoryKeys{{Name: "web", Signer: key}}})
	if err != nil {
		log.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	defer func() {
		s.Stop(5 * time.Second) // answers what is in flight, then closes
		if err := <-served; err != nil {
			log.Fatal(err)
		}
	}()

	// A client, as the deployment's client identity.
	tlsCfg, err := signer.ClientTLS(dir)
	if err != nil {
		log.Fatal(err)
	}
	e, err := remote.New(remote.Config{Addrs: []string{lis.Addr().String()}, TLS: tlsCfg})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close()
	id, err := signer.KeyID(key.Public())
	if err != nil {
		log.Fatal(err)
	}
	remoteKey, err := e.Signer(context.Background(), id)
	if err != nil {
		log.Fatal(err)
	}
	digest := sha256.Sum256([]byte("hello"))
	sig, err := remoteKey.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verifies:", ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig))
	fmt.Println("signed:", s.Stats().Signed)
	// Output:
	// verifies: true
	// signed: 1
}
