//go:build asynchooks

package async_test

// These tests need -tags asynchooks (.ci/run runs them): a hook inside
// the package closes the pool at the one instant a concurrent Close could
// otherwise miss a job, so that a race seen a few times per million tries
// happens every time.

import (
	"context"
	"errors"
	"testing"

	"github.com/seed-e1024768/async"
)

// closeAtBeforePaused closes p at the next hookBeforePaused, and returns
// a func that reports the error Close returned.
func closeAtBeforePaused(t *testing.T, p *async.Pool) func() error {
	var closeErr error
	ran := false
	async.SetHook(t, async.HookBeforePaused, func() {
		ran = true
		closeErr = p.Close()
	})
	return func() error {
		t.Helper()
		if !ran {
			t.Fatal("the hook never ran")
		}
		return closeErr
	}
}

// unwindRecorder returns a Func that pauses until PauseJob fails, and a
// pointer to the error that ended it.
func unwindRecorder() (async.Func, *error) {
	var ended error
	return func(ctx context.Context, _ []byte) int {
		for {
			if err := async.PauseJob(ctx); err != nil {
				ended = err
				return 7
			}
		}
	}, &ended
}

// checkClosedEmpty checks that StartJob reported the job closed and that
// the closed pool holds no job, paused or otherwise.
func checkClosedEmpty(t *testing.T, p *async.Pool, job *async.Job, st async.Status, err error, ended error) {
	t.Helper()
	if st != async.Err || !errors.Is(err, async.ErrClosed) {
		t.Errorf("StartJob = %v, %v; want Err, ErrClosed", st, err)
	}
	if job != nil {
		t.Errorf("*job = %p after the pool closed under it; want nil", job)
	}
	if !errors.Is(ended, async.ErrClosed) {
		t.Errorf("the Func ended with %v; want PauseJob to return ErrClosed", ended)
	}
	if s := p.Stats(); s.Size != 0 || s.Paused != 0 {
		t.Errorf("closed pool holds %+v; want no jobs", s)
	}
}

// Fault: a new job that pauses while Close runs was left paused in the
// closed pool, its goroutine leaked.
func TestHookCloseAsNewJobPauses(t *testing.T) {
	checkNoLeaks(t)
	p, _ := async.NewPool(0, 0)
	w := mustWaitCtx(t)
	closeErr := closeAtBeforePaused(t, p)
	fn, ended := unwindRecorder()
	var job *async.Job
	st, _, err := p.StartJob(bg, &job, w, fn, nil)
	if err := closeErr(); err != nil {
		t.Errorf("Close = %v; want nil (the job was running, not paused)", err)
	}
	checkClosedEmpty(t, p, job, st, err, *ended)
}

// The same, for a resumed job that pauses again.
func TestHookCloseAsResumedJobPauses(t *testing.T) {
	checkNoLeaks(t)
	p, _ := async.NewPool(0, 0)
	w := mustWaitCtx(t)
	fn, ended := unwindRecorder()
	var job *async.Job
	expect(t, async.Pause, 0)(p.StartJob(bg, &job, w, fn, nil))
	closeErr := closeAtBeforePaused(t, p)
	st, _, err := p.StartJob(bg, &job, w, nil, nil)
	if err := closeErr(); err != nil {
		t.Errorf("Close = %v; want nil", err)
	}
	checkClosedEmpty(t, p, job, st, err, *ended)
}

// A resume refused for a wrong or freed WaitCtx hands the job back
// paused; Close at that instant must not miss it either.
func TestHookCloseAsRefusedResumeHandsBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resume func(w *async.WaitCtx) *async.WaitCtx
	}{
		{"wrong WaitCtx", func(*async.WaitCtx) *async.WaitCtx { return async.NewWaitCtx() }},
		{"freed WaitCtx", func(w *async.WaitCtx) *async.WaitCtx { w.Free(); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeaks(t)
			p, _ := async.NewPool(0, 0)
			w := async.NewWaitCtx()
			defer w.Free()
			fn, ended := unwindRecorder()
			var job *async.Job
			expect(t, async.Pause, 0)(p.StartJob(bg, &job, w, fn, nil))
			closeErr := closeAtBeforePaused(t, p)
			st, _, err := p.StartJob(bg, &job, tc.resume(w), nil, nil)
			if err := closeErr(); err != nil {
				t.Errorf("Close = %v; want nil", err)
			}
			checkClosedEmpty(t, p, job, st, err, *ended)
		})
	}
}
