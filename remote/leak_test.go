//go:build linux

package remote

import (
	"context"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/leaktest"
)

// TestNoLeaks: an engine used in every mode, failed over, timed out and
// closed leaves no goroutine and no file descriptor behind.
func TestNoLeaks(t *testing.T) {
	_, dir, _ := testSignd(t)
	a, b := startSigner(t, dir), startSigner(t, dir)
	kid := keyID(t, dir, "ed25519")
	leaktest.Check(t) // from here on: the signers' watchers are older
	for _, m := range modes {
		e, err := Dial(Config{Addrs: []string{a.addr, b.addr}, TLS: clientTLS(t, dir), Notify: m.notify})
		if err != nil {
			t.Fatal(err)
		}
		if _, errs, err := runJobs(context.Background(), e, m.mode, 8, 50, kid, Ed25519); err != nil || errs[0] != nil {
			t.Fatal(err, errs[0])
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		e.Sign(ctx, kid, Ed25519, []byte("x"))
		cancel()
		if _, err := e.Sign(context.Background(), kid, Ed25519, []byte("x")); err != nil {
			t.Fatal(err)
		}
		e.Close()
		e.Close()
	}
	b.kill()
	e, err := Dial(Config{Addrs: []string{a.addr, b.addr}, TLS: clientTLS(t, dir), Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		e.Sign(context.Background(), kid, Ed25519, []byte("x"))
	}
	e.Close()
}
