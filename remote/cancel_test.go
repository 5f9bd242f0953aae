//go:build linux

package remote

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/internal/leaktest"
	"golang.org/x/sys/unix"
)

// TestDeadline: an operation whose ctx deadline passes while the signer
// still holds it returns context.DeadlineExceeded at the deadline, blocking
// or in a job (where nothing but the engine can wake the job), and the
// signer drops it unsigned.
func TestDeadline(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir, "-delay", "500ms")
	leaktest.Check(t)
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
	waitFor(t, "a live stream", func() bool { return e.current()[0].up() })

	start := time.Now() // before the deadline is set: took >= 50ms
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := e.Sign(ctx, kid, Ed25519, []byte("x"))
	check(err, time.Since(start))
	cancel()

	// Jobs whose ctx has the deadline, resumed only when their wait fd
	// is readable: only the engine can wake them. (The deadline is set on
	// the ctx given to StartJob: a context.WithTimeout of the job's own
	// ctx would race with the pool's reuse of that ctx when its timer
	// fires as the job ends, a fault of package async, not of this one.)
	var pool async.Pool
	defer pool.Close()
	start = time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var errs []error
	var fds []unix.PollFd
	var jobs []*async.Job
	var wctxs []*async.WaitCtx
	for range 4 {
		w := async.NewWaitCtx()
		defer w.Free()
		var job *async.Job
		st, _, err := pool.StartJob(ctx, &job, w, func(ctx context.Context, _ []byte) int {
			_, err := e.Sign(ctx, kid, Ed25519, []byte("y"))
			errs = append(errs, err)
			return 0
		}, nil)
		if st != async.Pause || len(w.AllFDs()) != 1 {
			t.Fatalf("StartJob: %v %v, fds %v", st, err, w.AllFDs())
		}
		fds = append(fds, unix.PollFd{Fd: int32(w.AllFDs()[0]), Events: unix.POLLIN})
		jobs = append(jobs, job)
		wctxs = append(wctxs, w)
	}
	for done := 0; done < len(jobs); {
		if _, err := unix.Poll(fds, 5000); err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
		for i := range fds {
			if fds[i].Revents&unix.POLLIN == 0 || jobs[i] == nil {
				continue
			}
			st, _, err := pool.StartJob(ctx, &jobs[i], wctxs[i], nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if st == async.Finish {
				done++
				jobs[i], fds[i].Fd = nil, -1
			}
		}
	}
	for _, err := range errs {
		check(err, time.Since(start))
	}
	waitFor(t, "the signer to drop 5 requests", func() bool {
		st := serverStats(t, s)
		return st.Canceled+st.Expired == 5
	})
	if st := serverStats(t, s); st.Signed != 0 {
		t.Errorf("the signer signed %d expired requests", st.Signed)
	}
}

// TestCancelReachesSigner: canceling jobs (CancelJob, or their ctx) and
// blocking callers (their ctx) while the signer holds their requests
// returns at once, and the signer drops the requests unsigned (its
// canceled count rises); their late answers reach no one.
func TestCancelReachesSigner(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir, "-delay", "2s")
	leaktest.Check(t)
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

	// A job whose ctx is canceled: only the engine can wake it.
	jctx, jcancel := context.WithCancel(context.Background())
	w := async.NewWaitCtx()
	defer w.Free()
	var job *async.Job
	var jerr error
	if st, _, err := pool.StartJob(jctx, &job, w, func(ctx context.Context, _ []byte) int {
		_, jerr = e.Sign(ctx, kid, Ed25519, []byte("x"))
		return 0
	}, nil); st != async.Pause {
		t.Fatalf("StartJob: %v, %v", st, err)
	}
	waitFor(t, "the signer to receive the request", func() bool { return serverStats(t, s).Received == jobs+1 })
	jcancel()
	fds := []unix.PollFd{{Fd: int32(w.AllFDs()[0]), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 5000); n != 1 {
		t.Fatalf("the job's wait fd is not readable after its ctx was canceled: %v", err)
	}
	if st, _, err := pool.StartJob(jctx, &job, w, nil, nil); st != async.Finish || err != nil {
		t.Fatalf("resume: %v, %v", st, err)
	}
	if !errors.Is(jerr, context.Canceled) {
		t.Fatalf("job with a canceled ctx: %v", jerr)
	}

	// A blocking caller whose ctx is canceled.
	bctx, bcancel := context.WithCancel(context.Background())
	go func() {
		waitFor(t, "the signer to receive the request", func() bool { return serverStats(t, s).Received == jobs+2 })
		bcancel()
	}()
	if _, err := e.Sign(bctx, kid, Ed25519, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("blocking Sign: %v; want context.Canceled", err)
	}
	waitFor(t, "the signer to drop the canceled requests", func() bool { return serverStats(t, s).Canceled == jobs+2 })
	if st := serverStats(t, s); st.Signed != 0 {
		t.Errorf("the signer signed %d canceled requests", st.Signed)
	}
	waitFor(t, "the cancellations' answers", func() bool { return e.Stats().Discarded == jobs+2 })
	if st := e.Stats(); st.CancelsSent != jobs+2 || st.Answered != 0 || st.Expired != 1 {
		t.Errorf("stats %+v", st)
	}
}
