//go:build linux

package remote

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
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
