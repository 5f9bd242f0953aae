package async_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/seed-e1024768/async"
)

// goexitPanicking calls runtime.Goexit (as t.FailNow does) after pausing
// `pauses` times, and a call it deferred panics while the Goexit unwinds
// it. Recovering that panic does not stop the Goexit: the runtime goes on
// with it, so the job's coroutine still ends by Goexit.
func goexitPanicking(pauses int) async.Func {
	return func(ctx context.Context, _ []byte) int {
		for range pauses {
			async.PauseJob(ctx) // ErrCanceled or ErrClosed too: Goexit all the same
		}
		defer func() { panic("during Goexit") }()
		runtime.Goexit()
		return 0
	}
}

// returns runs f on a goroutine of its own and reports whether f returned,
// rather than ending that goroutine with runtime.Goexit.
func returns(f func()) bool {
	done := make(chan bool)
	go func() {
		returned := false
		defer func() { done <- returned }()
		f()
		returned = true
	}()
	return <-done
}

// checkPanicDuringGoexit checks the error a job that panicked during a
// Goexit reports: the panic, which is what stopped it.
func checkPanicDuringGoexit(t *testing.T, what string, err error) {
	t.Helper()
	var pe *async.PanicError
	if !errors.As(err, &pe) || pe.Value != "during Goexit" {
		t.Fatalf("%s: %v; want a *PanicError with the panic's value", what, err)
	}
}

// Item 1 of the second core audit: a panic while runtime.Goexit unwound a
// job's Func ended the goroutine that had called StartJob, and the job
// kept its pool slot.
func TestStartJobSurvivesPanicDuringGoexit(t *testing.T) {
	checkNoLeaks(t)
	pool := mustPool(t, 1, 0)
	w := mustWaitCtx(t)
	for _, pauses := range []int{0, 1} { // at start, and on resume
		var job *async.Job
		var st async.Status
		var err error
		if !returns(func() {
			st, _, err = pool.StartJob(bg, &job, w, goexitPanicking(pauses), nil)
			for st == async.Pause {
				st, _, err = pool.StartJob(bg, &job, nil, nil, nil)
			}
		}) {
			t.Fatalf("pauses %d: StartJob ended its caller's goroutine", pauses)
		}
		if st != async.Err || job != nil {
			t.Fatalf("pauses %d: StartJob = %v, job %p", pauses, st, job)
		}
		checkPanicDuringGoexit(t, "StartJob", err)
		if s := pool.Stats(); s.Size != 0 {
			t.Fatalf("pauses %d: the job stayed in the pool: %+v", pauses, s)
		}
	}
	// The pool's one slot is free again.
	var job *async.Job
	expect(t, async.Finish, 1)(pool.StartJob(bg, &job, w, pauser(0, 1), nil))
}

// Item 1 of the second core audit, through CancelJob: the job unwinds with
// ErrCanceled, calls Goexit, and panics during it.
func TestCancelJobSurvivesPanicDuringGoexit(t *testing.T) {
	checkNoLeaks(t)
	pool := mustPool(t, 1, 0)
	w := mustWaitCtx(t)
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, goexitPanicking(1), nil))
	var err error
	if !returns(func() { _, err = pool.CancelJob(&job) }) {
		t.Fatal("CancelJob ended its caller's goroutine")
	}
	checkPanicDuringGoexit(t, "CancelJob", err)
	if job != nil {
		t.Fatal("*job still set")
	}
	if s := pool.Stats(); s.Size != 0 {
		t.Fatalf("the job stayed in the pool: %+v", s)
	}
	expect(t, async.Finish, 1)(pool.StartJob(bg, &job, w, pauser(0, 1), nil))
}

// Item 1 of the second core audit, through Close: Close goes on to unwind
// the other paused jobs, before and after the one that panics during its
// Goexit.
func TestCloseSurvivesPanicDuringGoexit(t *testing.T) {
	checkNoLeaks(t)
	pool, err := async.NewPool(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := mustWaitCtx(t)
	unwound := 0
	polite := func(ctx context.Context, _ []byte) int {
		if errors.Is(async.PauseJob(ctx), async.ErrClosed) {
			unwound++
		}
		return 0
	}
	jobs := make([]*async.Job, 5)
	for i := range jobs {
		fn := polite
		if i == 2 {
			fn = goexitPanicking(1)
		}
		expect(t, async.Pause, 0)(pool.StartJob(bg, &jobs[i], w, fn, nil))
	}
	if !returns(func() { err = pool.Close() }) {
		t.Fatal("Close ended its caller's goroutine")
	}
	if !errors.Is(err, async.ErrJobsOutstanding) {
		t.Errorf("Close = %v; want ErrJobsOutstanding", err)
	}
	if unwound != 4 {
		t.Errorf("Close unwound %d of the 4 other paused jobs", unwound)
	}
	if s := pool.Stats(); s.Size != 0 || s.Paused != 0 {
		t.Errorf("after Close: %+v", s)
	}
}
