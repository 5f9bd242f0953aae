package remote

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/loop"
)

// TestDeadline: an operation whose ctx deadline passes while the signer
// still holds it returns context.DeadlineExceeded at the deadline, blocking
// or in a job (where nothing but the engine can wake the job), and the
// signer drops it unsigned.
func TestDeadline(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir, "-delay", "500ms")
	e := dial(t, Config{Notify: NotifyFD}, s)
	kid := keyID(t, dir, "ed25519")
	check := func(err error, took time.Duration) {
		t.Helper()
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("got %v; want DeadlineExceeded alone", err)
		}
		if took < 50*time.Millisecond || took > 400*time.Millisecond {
			t.Errorf("returned after %v; want 50ms", took)
		}
	}
	// Connect first, so that the deadline measures the signer.
	if _, err := e.PublicKey(context.Background(), kid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a live stream", func() bool { return e.servers[0].up() })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	start := time.Now()
	_, err := e.Sign(ctx, kid, Ed25519, []byte("x"))
	check(err, time.Since(start))
	cancel()

	start = time.Now()
	var took []time.Duration
	err = loop.Run(context.Background(), loop.Config{Mode: loop.ModeFD}, func() func() (loop.Task, bool) {
		n := 0
		return func() (loop.Task, bool) {
			n++
			return loop.Task{Fn: func(ctx context.Context, _ []byte) int {
				ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				_, err := e.Sign(ctx, kid, Ed25519, []byte("y"))
				took = append(took, time.Since(start))
				check(err, time.Since(start))
				return 0
			}}, n <= 4
		}
	}(), func(loop.Result) {})
	if err != nil || len(took) != 4 {
		t.Fatalf("Run: %v, %d jobs", err, len(took))
	}
	waitFor(t, "the signer to drop 5 requests", func() bool {
		st := serverStats(t, s)
		return st.Canceled+st.Expired == 5
	})
	if st := serverStats(t, s); st.Signed != 0 {
		t.Errorf("the signer signed %d expired requests", st.Signed)
	}
}

// TestCancelReachesSigner: canceling jobs (loop.Run's ctx canceled, so
// CancelJob) and blocking callers (ctx canceled) while the signer holds
// their requests returns at once, and the signer drops the requests
// unsigned (its canceled count rises); their late answers reach no one.
func TestCancelReachesSigner(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir, "-delay", "2s")
	e := dial(t, Config{Notify: NotifyAuto}, s)
	kid := keyID(t, dir, "ed25519")

	// Jobs canceled with CancelJob, from the application.
	const jobs = 20
	var pool async.Pool
	defer pool.Close()
	var handles []*async.Job
	var errs []error
	for range jobs {
		var job *async.Job
		w := async.NewWaitCtx()
		defer w.Free()
		st, _, err := pool.StartJob(context.Background(), &job, w, func(ctx context.Context, _ []byte) int {
			_, err := e.Sign(ctx, kid, Ed25519, []byte("x"))
			errs = append(errs, err)
			return 0
		}, nil)
		if st != async.Pause {
			t.Fatalf("StartJob: %v, %v", st, err)
		}
		handles = append(handles, job)
	}
	waitFor(t, "the signer to receive the requests", func() bool { return serverStats(t, s).Received == jobs })
	for _, job := range handles {
		if _, err := pool.CancelJob(&job); err != nil {
			t.Fatal(err)
		}
	}
	for i, err := range errs {
		if !errors.Is(err, async.ErrCanceled) {
			t.Errorf("job %d: %v; want async.ErrCanceled", i, err)
		}
	}
	if len(errs) != jobs {
		t.Fatalf("%d jobs returned", len(errs))
	}

	// A blocking caller whose ctx is canceled.
	bctx, bcancel := context.WithCancel(context.Background())
	go func() {
		waitFor(t, "the signer to receive the request", func() bool { return serverStats(t, s).Received == jobs+1 })
		bcancel()
	}()
	if _, err := e.Sign(bctx, kid, Ed25519, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("blocking Sign: %v; want context.Canceled", err)
	}
	waitFor(t, "the signer to drop the canceled requests", func() bool { return serverStats(t, s).Canceled == jobs+1 })
	if st := serverStats(t, s); st.Signed != 0 {
		t.Errorf("the signer signed %d canceled requests", st.Signed)
	}
	waitFor(t, "the cancellations' answers", func() bool { return e.Stats().Discarded == jobs+1 })
	if st := e.Stats(); st.CancelsSent != jobs+1 || st.Answered != 0 {
		t.Errorf("stats %+v", st)
	}
}
