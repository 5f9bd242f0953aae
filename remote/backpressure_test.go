//go:build linux

package remote

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/leaktest"
)

// TestBackPressure: with MaxInFlight 4, 32 jobs in each mode and 8
// blocking callers all get their signatures (jobs at the bound pause with
// StatusEAGAIN and retry), and a blocking caller waiting for room gives up
// when its ctx is done.
func TestBackPressure(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir, "-delay", "1ms")
	kid := keyID(t, dir, "ed25519")
	pub := certOf(t, dir, "ed25519").PublicKey
	leaktest.Check(t)
	for _, m := range modes {
		e := dial(t, Config{Notify: m.notify, MaxInFlight: 4}, s)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				msg := msgOf(-g)
				sig, err := e.Sign(context.Background(), kid, Ed25519, msg)
				if err == nil {
					err = verify(t, pub, Ed25519, msg, sig)
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		sigs, errs, err := runJobs(context.Background(), e, m.mode, 32, 100, kid, Ed25519)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		for i := range sigs {
			if errs[i] != nil {
				t.Fatalf("%v task %d: %v", m.mode, i, errs[i])
			}
			if err := verify(t, pub, Ed25519, msgOf(i), sigs[i]); err != nil {
				t.Fatalf("%v task %d: %v", m.mode, i, err)
			}
		}
	}

	// Fill the slots with requests the signer holds, then one more waits.
	slow := startSigner(t, dir, "-delay", "2s")
	e := dial(t, Config{MaxInFlight: 2}, slow)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		go e.Sign(ctx, kid, Ed25519, []byte("x"))
	}
	waitFor(t, "the slots to fill", func() bool { return len(e.slots) == 2 })
	tctx, tcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer tcancel()
	if _, err := e.Sign(tctx, kid, Ed25519, []byte("y")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sign at the bound: %v; want DeadlineExceeded", err)
	}
	cancel()
	waitFor(t, "the slots to empty", func() bool { return len(e.slots) == 0 })
}
