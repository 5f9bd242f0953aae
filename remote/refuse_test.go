//go:build linux

package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/seed-e1024768/async/loop"
)

// TestRefused: a client whose certificate comes from another CA is
// refused by the signer, and a client that does not trust the signer's CA
// refuses it; either way the first operation fails at once with
// ErrRefused and says whose certificate was not accepted, and PublicKey
// does too.
func TestRefused(t *testing.T) {
	_, dir, evil := testSignd(t)
	s := startSigner(t, dir)
	ours, theirs := clientTLS(t, dir), clientTLS(t, evil)
	badCert := ours.Clone()
	badCert.Certificates = theirs.Certificates
	badRoots := ours.Clone()
	badRoots.RootCAs = theirs.RootCAs
	for _, c := range []struct {
		name, says string
		cfg        Config
	}{
		{"client cert from another CA", "signer did not accept this client's certificate", Config{TLS: badCert}},
		{"signer cert from another CA", "client did not accept the signer's certificate", Config{TLS: badRoots}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := dial(t, c.cfg, s)
			start := time.Now()
			_, err := e.Sign(context.Background(), keyID(t, dir, "ed25519"), Ed25519, []byte("hi"))
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Sign: %v; want ErrRefused saying %q", err, c.says)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("refusal took %v", d)
			}
			t.Log(err)
			_, err = e.PublicKey(context.Background(), keyID(t, dir, "ed25519"))
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("PublicKey: %v; want ErrRefused", err)
			}
		})
	}
}

// TestOneRefuses: in a fleet where one signer refuses this client's
// certificate, every operation is signed by the others.
func TestOneRefuses(t *testing.T) {
	_, dir, evil := testSignd(t)
	bad, good := startSigner(t, evil), startSigner(t, dir)
	e := dial(t, Config{Notify: NotifyAuto}, bad, good)
	kid := keyID(t, dir, "ed25519")
	pub := certOf(t, dir, "ed25519").PublicKey
	sigs, errs, err := runJobs(context.Background(), e, loop.ModeCallback, 16, 100, kid, Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sigs {
		if errs[i] != nil {
			t.Fatalf("task %d: %v", i, errs[i])
		}
		if err := verify(t, pub, Ed25519, msgOf(i), sigs[i]); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	if err := e.current()[0].trouble(); !errors.Is(err, ErrRefused) {
		t.Errorf("the refusing signer's trouble: %v", err)
	}
}

// TestRefusedEveryTime guards item 7 of the signer audit: 128 clients
// whose certificate the signer rejects (eight at a time) each get
// ErrRefused from their first operation, promptly. Before, under -race,
// 2–3 of 120 saw their first write fail with "broken pipe" (TLS 1.3
// rejects a client's certificate after the client's handshake is done)
// and reported ErrUnavailable at the deadline.
func TestRefusedEveryTime(t *testing.T) {
	_, dir, evil := testSignd(t)
	s := startSigner(t, dir)
	bad := clientTLS(t, dir)
	bad.Certificates = clientTLS(t, evil).Certificates
	kid := keyID(t, dir, "ed25519")
	const n, par = 128, 8
	errs := make(chan error, n)
	sem := make(chan struct{}, par)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			e, err := New(Config{Addrs: []string{s.Addr}, TLS: bad, Timeout: 20 * time.Second})
			if err != nil {
				errs <- err
				return
			}
			defer e.Close()
			start := time.Now()
			_, err = e.Sign(context.Background(), kid, Ed25519, []byte("refused"))
			switch d := time.Since(start); {
			case !errors.Is(err, ErrRefused):
				errs <- fmt.Errorf("client %d: Sign = %v after %v; want ErrRefused", i, err, d)
			case d > 5*time.Second:
				errs <- fmt.Errorf("client %d: refused after %v", i, d)
			default:
				errs <- nil
			}
		}()
	}
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			failed++
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d refusals misreported", failed, n)
	}
}
