//go:build linux

package signer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-e1024768/async/remote"
	"github.com/seed-e1024768/async/signer"
)

// fakeSigner is a TLS listener on loopback presenting cert, which counts
// the handshakes its clients completed and those they refused.
type fakeSigner struct {
	lis               net.Listener
	accepted, refused atomic.Int64
	wg                sync.WaitGroup
}

func startFake(t *testing.T, cert tls.Certificate) *fakeSigner {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSigner{lis: lis}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"},
		ClientAuth: tls.RequireAnyClientCert}
	f.wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			f.wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if err := tls.Server(c, cfg).Handshake(); err != nil {
					f.refused.Add(1)
				} else {
					f.accepted.Add(1) // the client took it for a signer
				}
			})
		}
	})
	t.Cleanup(func() {
		lis.Close()
		f.wg.Wait()
	})
	return f
}

// TestFakeSignerRefusedUnderLoad (item 10 of the signer audit, load
// test: a front end's certificate, served by a fake signer, was taken for
// the signer's): an engine configured by ClientTLS, given two fake signers
// (one presenting a front end's certificate of the deployment, one its
// client certificate) beside the real one, signs thousands of requests,
// all by the real one, and refuses every handshake of the fakes, again
// and again as it reconnects.
func TestFakeSignerRefusedUnderLoad(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "deploy")
	if err := signer.Init(dir); err != nil {
		t.Fatal(err)
	}
	load := func(cert, key string) tls.Certificate {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, cert), filepath.Join(dir, key))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	frontEnd := startFake(t, load("certs/ecdsap256.pem", "keys/ecdsap256.key"))
	client := startFake(t, load("client.pem", "client-key.pem"))

	s, err := signer.New(signer.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	defer func() {
		s.Stop(5 * time.Second)
		<-served
	}()

	tc, err := signer.ClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := remote.New(remote.Config{
		Addrs: []string{frontEnd.lis.Addr().String(), client.lis.Addr().String(), lis.Addr().String()},
		TLS:   tc, Timeout: 20 * time.Second, HealthInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cert, err := signer.ReadCert(dir, "ecdsap256")
	if err != nil {
		t.Fatal(err)
	}
	id, err := signer.KeyID(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := cert.PublicKey.(*ecdsa.PublicKey)
	const workers, each = 32, 100
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				d := sha256.Sum256([]byte{byte(w), byte(i)})
				sig, err := e.Sign(ctx, id, remote.ECDSAP256SHA256, d[:])
				if err != nil || !ecdsa.VerifyASN1(pub, d[:], sig) {
					if bad.Add(1) == 1 {
						t.Errorf("signature %d of worker %d: %v", i, w, err)
					}
				}
			}
		})
	}
	wg.Wait()
	// Keep the fakes in the engine's view a little longer: it keeps
	// trying them.
	for time.Since(start) < 3*time.Second && frontEnd.refused.Load()+client.refused.Load() < 6 {
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d signatures in %v, %d bad; fake signers: a front end's certificate refused %d times, accepted %d; a client's refused %d, accepted %d",
		workers*each, time.Since(start), bad.Load(), frontEnd.refused.Load(), frontEnd.accepted.Load(), client.refused.Load(), client.accepted.Load())
	if frontEnd.accepted.Load() != 0 || client.accepted.Load() != 0 {
		t.Errorf("the engine took a fake signer for a signer")
	}
	if frontEnd.refused.Load() < 2 || client.refused.Load() < 2 {
		t.Errorf("the fakes were refused %d and %d times, want again and again", frontEnd.refused.Load(), client.refused.Load())
	}
}
