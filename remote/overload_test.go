//go:build linux

package remote

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/seed-e1024768/async/internal/signpb"
	"github.com/seed-e1024768/async/loop"
)

// signMany signs n Ed25519 messages of varied lengths with the fake
// signer's key, from jobs (loop, callback mode) and blocking goroutines
// at once, and returns how many failed, with the first error.
func signMany(t *testing.T, e *Engine, n int) (failed int, first error) {
	t.Helper()
	kid, _ := fakeKey(Ed25519)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	msg := func(i int) []byte { return []byte(strings.Repeat("m", 1+i%400)) }
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		failed++
		if first == nil {
			first = err
		}
	}
	check := func(i int, sig []byte, err error) {
		if err == nil {
			err = verifyFake(kid, Ed25519, msg(i), sig)
		}
		if err != nil {
			fail(err)
		}
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := g; i < n/2; i += 16 {
				sig, err := e.Sign(ctx, kid, Ed25519, msg(i))
				check(i, sig, err)
			}
		})
	}
	i := n / 2
	err := loop.Run(ctx, loop.Config{Mode: loop.ModeCallback, InFlight: 256}, func() (loop.Task, bool) {
		if i == n {
			return loop.Task{}, false
		}
		k := i
		i++
		return loop.Task{Fn: func(ctx context.Context, _ []byte) int {
			sig, err := e.Sign(ctx, kid, Ed25519, msg(k))
			check(k, sig, err)
			return 0
		}}, true
	}, func(r loop.Result) {
		if r.Err != nil {
			fail(r.Err)
		}
	})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	return failed, first
}

// warmThenStrict has e's streams hear f's limits (each stream's first
// answer comes after them), then has f count what goes beyond them.
func warmThenStrict(t *testing.T, e *Engine, f *fakeSigner) {
	t.Helper()
	kid, _ := fakeKey(Ed25519)
	for range 8 {
		if _, err := e.Sign(context.Background(), kid, Ed25519, []byte("warm")); err != nil {
			t.Fatal(err)
		}
	}
	f.strict.Store(true)
}

// TestOverloadIsBackPressure guards item 3 of the signer audit: a signer
// that says small Limits, and besides refuses one request in seven
// CODE_OVERLOADED (as at a bound of the client, shared by all its
// streams), gets no batch and no stream beyond its limits from the
// engine, and every one of 4,000 requests is signed: overload is waited
// out, not reported. (Before, CODE_OVERLOADED failed the request with
// ErrSigner, and the engine knew no limits.)
func TestOverloadIsBackPressure(t *testing.T) {
	f := startFake(t, &fakeSigner{
		lim:    &signpb.Limits{MaxInFlight: 8, MaxInFlightBytes: 1500, MaxBatch: 3},
		refuse: func(n int64) bool { return n%7 == 0 },
		delay:  time.Millisecond,
	})
	e := fakeEngine(t, f, Config{Notify: NotifyAuto, MaxInFlight: 512})
	warmThenStrict(t, e, f)
	failed, first := signMany(t, e, 4000)
	if failed > 0 {
		t.Fatalf("%d of 4000 requests failed; the first: %v", failed, first)
	}
	if b := f.broken.Load(); b > 0 {
		t.Errorf("the engine went beyond the signer's limits %d times", b)
	}
	if f.refused.Load() == 0 || e.Stats().Overloaded == 0 {
		t.Errorf("no request was refused (signer %d, engine %d): the test tests nothing", f.refused.Load(), e.Stats().Overloaded)
	}
	t.Logf("refused %d, signed %d, stats %+v", f.refused.Load(), f.signed.Load(), e.Stats())
}

// TestBatchBytes: a signer that says how large a batch may be
// (max_batch_bytes, the largest message it reads: a larger one ends the
// stream) gets no larger one, however many requests are queued at once,
// and every request is signed.
func TestBatchBytes(t *testing.T) {
	f := startFake(t, &fakeSigner{
		lim:   &signpb.Limits{MaxInFlight: 4096, MaxInFlightBytes: 16 << 20, MaxBatch: 16384, MaxBatchBytes: 2048},
		delay: time.Millisecond,
	})
	e := fakeEngine(t, f, Config{Notify: NotifyAuto, MaxInFlight: 512})
	warmThenStrict(t, e, f)
	failed, first := signMany(t, e, 2000)
	if failed > 0 {
		t.Fatalf("%d of 2000 requests failed; the first: %v", failed, first)
	}
	if b := f.broken.Load(); b > 0 {
		t.Errorf("the engine sent %d batches larger than the signer's max_batch_bytes", b)
	}
}

// TestOverloadOldSigner guards item 3 of the signer audit with a signer
// that predates Limits: it never says them and answers CODE_UNAVAILABLE
// ("too many requests in flight on this stream") beyond 8 requests in
// flight. The engine learns the bound from the refusals; none fails.
func TestOverloadOldSigner(t *testing.T) {
	f := startFake(t, &fakeSigner{full: signpb.Code_CODE_UNAVAILABLE, delay: time.Millisecond})
	e := fakeEngine(t, f, Config{Notify: NotifyAuto, MaxInFlight: 512})
	failed, first := signMany(t, e, 2000)
	if failed > 0 {
		t.Fatalf("%d of 2000 requests failed; the first: %v", failed, first)
	}
	if f.refused.Load() == 0 {
		t.Error("no request was refused: the test tests nothing")
	}
	t.Logf("refused %d, signed %d, stats %+v", f.refused.Load(), f.signed.Load(), e.Stats())
}

// TestOverloadUntilDeadline guards item 3 of the signer audit: a signer
// that refuses every request CODE_OVERLOADED fails a request only at its
// deadline, with ErrOverloaded saying that there was no room (not
// ErrUnavailable: the signer was up), and the engine does not resend it
// in a busy loop meanwhile.
func TestOverloadUntilDeadline(t *testing.T) {
	f := startFake(t, &fakeSigner{
		lim:    &signpb.Limits{MaxInFlight: 8, MaxInFlightBytes: 1 << 20, MaxBatch: 8},
		refuse: func(int64) bool { return true },
	})
	e := fakeEngine(t, f, Config{StreamsPerServer: 1})
	kid, _ := fakeKey(Ed25519)
	const wait = 300 * time.Millisecond
	start := time.Now() // before the deadline is set, which it then cannot precede
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := e.Sign(ctx, kid, Ed25519, []byte("no room"))
	took := time.Since(start)
	if !errors.Is(err, ErrOverloaded) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) ||
		!strings.Contains(err.Error(), "no room before the deadline") {
		t.Fatalf("Sign = %v; want ErrOverloaded, no room before the deadline", err)
	}
	if took < wait || took > wait+2*time.Second {
		t.Errorf("Sign failed after %v; want its deadline, %v", took, wait)
	}
	// Holds of 1, 2, 4 ... 50 ms between refusals: about a dozen sends.
	if n := f.refused.Load(); n > 40 {
		t.Errorf("the request was sent %d times in %v: a busy loop", n, wait)
	}
	t.Logf("%v after %v, %d sends", err, took, f.refused.Load())
}

// TestOverloadAudit guards item 3 of the signer audit as it was measured:
// MaxInFlight (12,000) above the signer's bound per stream (4,096), one
// stream, 12,000 requests at once through a real signer: none fails.
// (Before, 2,166 of them failed here with ErrUnavailable, "sent 8 times,
// to signers that failed".)
func TestOverloadAudit(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir, "-delay", "200ms") // so that requests pile up
	e := dial(t, Config{Notify: NotifyAuto, MaxInFlight: 12000, StreamsPerServer: 1}, s)
	kid := keyID(t, dir, "ed25519")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sigs, errs, err := runJobs(ctx, e, loop.ModeCallback, 12000, 12000, kid, Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	var first error
	for i := range sigs {
		if errs[i] != nil {
			if failed++; first == nil {
				first = errs[i]
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of 12000 failed; the first: %v", failed, first)
	}
	t.Logf("stats %+v", e.Stats())
}

// TestWireSize: the size the engine counts against max_in_flight_bytes is
// the request's encoded size, as the signer counts it.
func TestWireSize(t *testing.T) {
	for _, m := range []*signpb.SignRequest{
		{},
		{Id: 1, KeyId: strings.Repeat("a", 64), Algorithm: signpb.Algorithm_ED25519, Payload: make([]byte, 100), TimeoutNanos: 1},
		{Id: 1 << 60, KeyId: "k", Algorithm: signpb.Algorithm_RSA_PSS_SHA256, Payload: make([]byte, 70000), TimeoutNanos: 1 << 62, DeadlineUnixNano: -1},
	} {
		if got, want := wireSize(m), int64(proto.Size(m)); got != want {
			t.Errorf("wireSize = %d; proto.Size = %d", got, want)
		}
	}
}
