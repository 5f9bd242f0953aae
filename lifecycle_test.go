package async_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/seed-e1024768/async"
)

// Fault: resuming or canceling a job while Close unwinds it said
// ErrRunning, where the truth is that the pool is closed.
func TestResumeWhileCloseUnwindsIsErrClosed(t *testing.T) {
	checkNoLeaks(t)
	p, _ := async.NewPool(0, 0)
	w := mustWaitCtx(t)
	var stale *async.Job
	var resumeErr, cancelErr, pauseErr error
	fn := func(ctx context.Context, _ []byte) int {
		pauseErr = async.PauseJob(ctx)
		// Close is unwinding this job now: try to resume and cancel it
		// through copies of its handle.
		h1, h2 := stale, stale
		_, _, resumeErr = p.StartJob(bg, &h1, nil, nil, nil)
		_, cancelErr = p.CancelJob(&h2)
		return 0
	}
	var job *async.Job
	expect(t, async.Pause, 0)(p.StartJob(bg, &job, w, fn, nil))
	stale = job
	if err := p.Close(); !errors.Is(err, async.ErrJobsOutstanding) {
		t.Fatalf("Close = %v; want ErrJobsOutstanding", err)
	}
	if !errors.Is(pauseErr, async.ErrClosed) {
		t.Fatalf("PauseJob = %v; want ErrClosed", pauseErr)
	}
	if !errors.Is(resumeErr, async.ErrClosed) || !errors.Is(cancelErr, async.ErrClosed) {
		t.Errorf("during Close's unwind: resume = %v, cancel = %v; want ErrClosed for both", resumeErr, cancelErr)
	}
	// And after Close, the handle is as dead as the pool.
	if _, _, err := p.StartJob(bg, &stale, nil, nil, nil); !errors.Is(err, async.ErrClosed) {
		t.Errorf("resume after Close = %v; want ErrClosed", err)
	}
}

// Fault: an idle job kept the args of its last run, bytes intact, and
// the buffer of its largest run, however large.
func TestIdleJobWipesArgs(t *testing.T) {
	p := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	secret := []byte("-----BEGIN PRIVATE KEY----- not really")
	var seen []byte
	fn := func(_ context.Context, args []byte) int {
		seen = bytes.Clone(args)
		return 0
	}
	var job *async.Job
	expect(t, async.Finish, 0)(p.StartJob(bg, &job, w, fn, secret))
	if !bytes.Equal(seen, secret) {
		t.Fatalf("Func saw args %q; want %q", seen, secret)
	}
	buf := async.IdleArgBuf(p)
	if len(buf) < len(secret) {
		t.Fatalf("idle job's args buffer has %d bytes; want it kept for reuse (>= %d)", len(buf), len(secret))
	}
	if i := bytes.IndexFunc(buf, func(r rune) bool { return r != 0 }); i >= 0 {
		t.Errorf("idle job's args buffer is not wiped: %q", buf)
	}
}

// Item 3 of the second core audit: a Func that appended to its args wrote
// into the spare capacity of the job's buffer, past the length the pool
// wiped, so those bytes stayed in the idle job.
func TestIdleJobWipesWhatTheFuncAppended(t *testing.T) {
	p := mustPool(t, 1, 0)
	w := mustWaitCtx(t)
	var job *async.Job
	// A first run leaves the job a buffer with room to spare.
	expect(t, async.Finish, 0)(p.StartJob(bg, &job, w, pauser(0, 0), make([]byte, 512)))
	grow := func(_ context.Context, args []byte) int {
		args = append(args, "-----BEGIN PRIVATE KEY----- appended"...)
		full := args[:cap(args)]
		for i := len(args); i < len(full); i++ {
			full[i] = 's'
		}
		return 0
	}
	expect(t, async.Finish, 0)(p.StartJob(bg, &job, w, grow, []byte("8 bytes!")))
	buf := async.IdleArgBuf(p)
	if len(buf) == 0 {
		t.Fatal("the idle job kept no args buffer; nothing to check")
	}
	if i := bytes.IndexFunc(buf, func(r rune) bool { return r != 0 }); i >= 0 {
		t.Errorf("idle job's args buffer is not wiped at %d: %q", i, buf[i:])
	}
}

func TestIdleJobDropsLargeArgs(t *testing.T) {
	p := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	const size = 64 << 20
	before := heapInUse()
	big := make([]byte, size)
	big[size-1] = 1
	fn := func(_ context.Context, args []byte) int { return int(args[size-1]) }
	var job *async.Job
	expect(t, async.Finish, 1)(p.StartJob(bg, &job, w, fn, big))
	big = nil
	if buf := async.IdleArgBuf(p); len(buf) > async.MaxKeptArgs {
		t.Errorf("idle job keeps a %d-byte args buffer; want at most %d", len(buf), async.MaxKeptArgs)
	}
	if after := heapInUse(); after > before+size/4 {
		t.Errorf("after a run with %d MiB of args the heap holds %d MiB more; want the buffer gone",
			size>>20, (after-before)>>20)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Start, pause, resume and finish allocate nothing, args included, up to
// the size an idle job keeps.
func TestHotPathsDoNotAllocate(t *testing.T) {
	p := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	fn := pauser(1, 3)
	for _, n := range []int{0, 8, async.MaxKeptArgs} {
		args := make([]byte, n)
		var job *async.Job
		run := func() {
			p.StartJob(bg, &job, w, fn, args)
			p.StartJob(bg, &job, w, nil, nil)
		}
		run() // make the job and its buffer
		if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
			t.Errorf("start, pause, resume, finish with %d bytes of args: %v allocations; want 0", n, allocs)
		}
	}
}

// A handle is valid only while its job is paused: a copy kept past Finish
// resumes whatever job reuses the Job, as the documentation of StartJob
// warns. This pins the documented behaviour down.
func TestStaleHandleResumesTheReusingJob(t *testing.T) {
	p := mustPool(t, 1, 0)
	w := mustWaitCtx(t)
	var job *async.Job
	expect(t, async.Pause, 0)(p.StartJob(bg, &job, w, pauser(1, 1), nil))
	stale := job
	expect(t, async.Finish, 1)(p.StartJob(bg, &job, w, nil, nil))
	if _, _, err := p.StartJob(bg, &stale, w, nil, nil); !errors.Is(err, async.ErrNotPaused) {
		t.Fatalf("stale handle of an idle job: %v; want ErrNotPaused", err)
	}
	expect(t, async.Pause, 0)(p.StartJob(bg, &job, w, pauser(1, 2), nil))
	if job != stale {
		t.Skip("the pool did not reuse the Job; nothing to show")
	}
	expect(t, async.Finish, 2)(p.StartJob(bg, &stale, w, nil, nil))
	if _, _, err := p.StartJob(bg, &job, w, nil, nil); !errors.Is(err, async.ErrNotPaused) {
		t.Errorf("the reusing job's own handle after the stale one finished it: %v; want ErrNotPaused", err)
	}
}

// pausable is derived from active, blocked and wake; every way into and
// out of a job must keep them agreeing.
func TestPausableInvariant(t *testing.T) {
	p := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	check := func(where string, j *async.Job) {
		t.Helper()
		if err := async.CheckPausable(j); err != nil {
			t.Errorf("%s: %v", where, err)
		}
	}
	fn := func(ctx context.Context, _ []byte) int {
		j := async.CurrentJob(ctx)
		check("started", j)
		async.BlockPause(ctx)
		async.BlockPause(ctx)
		check("blocked twice", j)
		async.UnblockPause(ctx)
		check("unblocked once", j)
		async.UnblockPause(ctx)
		check("unblocked", j)
		async.UnblockPause(ctx) // one too many
		check("unblocked again", j)
		if err := async.PauseJob(ctx); err != nil {
			return 1
		}
		check("resumed", j)
		err := async.PauseJob(ctx) // canceled
		check("canceled", j)
		async.BlockPause(ctx)
		async.UnblockPause(ctx)
		check("unwinding, after a block", j)
		if err == nil {
			return 2
		}
		return 3
	}
	var job *async.Job
	expect(t, async.Pause, 0)(p.StartJob(bg, &job, w, fn, nil))
	check("paused", job)
	expect(t, async.Pause, 0)(p.StartJob(bg, &job, w, nil, nil))
	check("paused again", job)
	j := job
	if ret, err := p.CancelJob(&job); ret != 3 || err != nil {
		t.Fatalf("CancelJob = %d, %v; want 3, nil", ret, err)
	}
	check("idle", j)
}
