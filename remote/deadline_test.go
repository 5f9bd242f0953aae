//go:build linux

package remote

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/signpb"
)

// TestDeadlineTravelsAsTimeout guards item 6 of the signer audit: a
// request carries the time it has left (timeout_nanos), never a
// wall-clock instant; and neither a deadline after 2262 nor a Timeout of
// math.MaxInt64 overflows (both failed at once before).
func TestDeadlineTravelsAsTimeout(t *testing.T) {
	f := startFake(t, &fakeSigner{lim: &signpb.Limits{MaxInFlight: 64, MaxInFlightBytes: 1 << 20, MaxBatch: 64}})
	kid, _ := fakeKey(Ed25519)
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		timeout  time.Duration // Config.Timeout
		deadline time.Time     // the ctx's, if not zero
		min, max int64         // bounds of the timeout_nanos sent
	}{
		{"ctx deadline", 0, time.Now().Add(5 * time.Second), 1, int64(5 * time.Second)},
		{"Config.Timeout", 3 * time.Second, time.Time{}, 1, int64(3 * time.Second)},
		{"deadline in 3000", 0, far, int64(200 * 365 * 24 * time.Hour), math.MaxInt64},
		{"Timeout MaxInt64", math.MaxInt64, time.Time{}, int64(200 * 365 * 24 * time.Hour), math.MaxInt64},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := fakeEngine(t, f, Config{Timeout: c.timeout})
			ctx := context.Background()
			if !c.deadline.IsZero() {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, c.deadline)
				defer cancel()
			}
			f.mu.Lock()
			f.timeouts, f.walls = nil, nil
			f.mu.Unlock()
			msg := []byte(c.name)
			sig, err := e.Sign(ctx, kid, Ed25519, msg)
			if err == nil {
				err = verifyFake(kid, Ed25519, msg, sig)
			}
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.timeouts) != 1 {
				t.Fatalf("the signer got %d requests", len(f.timeouts))
			}
			if got := f.timeouts[0]; got < c.min || got > c.max {
				t.Errorf("timeout_nanos = %d; want in [%d, %d]", got, c.min, c.max)
			}
			if f.walls[0] != 0 {
				t.Errorf("deadline_unix_nano = %d; want 0 (deprecated)", f.walls[0])
			}
		})
	}
}

// TestTimeoutOnlyWithoutDeadline guards item 6 of the signer audit:
// Config.Timeout bounds only an operation whose ctx has no deadline; a
// longer ctx deadline is not cut to it (it was).
func TestTimeoutOnlyWithoutDeadline(t *testing.T) {
	f := startFake(t, &fakeSigner{lim: &signpb.Limits{MaxInFlight: 64, MaxInFlightBytes: 1 << 20, MaxBatch: 64}, delay: 300 * time.Millisecond})
	kid, _ := fakeKey(Ed25519)
	e := fakeEngine(t, f, Config{Timeout: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.Sign(ctx, kid, Ed25519, []byte("longer deadline")); err != nil {
		t.Fatalf("Sign with a ctx deadline past Timeout: %v", err)
	}
	start := time.Now()
	_, err := e.Sign(context.Background(), kid, Ed25519, []byte("no deadline"))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) || errors.Is(err, ErrOverloaded) {
		t.Fatalf("Sign without a deadline = %v; want DeadlineExceeded alone (the signer is up)", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 290*time.Millisecond {
		t.Errorf("Sign without a deadline failed after %v; want Timeout, 100ms", d)
	}
}
