package remote

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seed-e1024768/async/loop"
)

// openFDs counts the process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// TestNoLeaks: an engine used in every mode, failed over, timed out and
// closed leaves no goroutine and no file descriptor behind.
func TestNoLeaks(t *testing.T) {
	_, dir, _ := testSignd(t)
	a, b := startSigner(t, dir), startSigner(t, dir)
	kid := keyID(t, dir, "ed25519")
	before := goleak.IgnoreCurrent() // the signers' watchers, among others
	fds := openFDs(t)
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
	goleak.VerifyNone(t, before)
	// grpc closes its sockets asynchronously: give it a moment.
	waitFor(t, "fds to be closed", func() bool { return openFDs(t) <= fds })
	var _ = loop.ModeFD
}
