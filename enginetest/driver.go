package enginetest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/engine"
)

// mode is one way of waking jobs, as the suite drives it.
type mode struct {
	name     string
	notify   engine.Notify
	callback bool // the WaitCtx has a callback
}

// modes are the Notify modes this OS has: the wait fd only on Linux.
func modes() []mode {
	ms := []mode{{"Callback", engine.NotifyAuto, true}, {"Poll", engine.NotifyPoll, false}}
	if haveFDs {
		ms = append([]mode{{"FD", engine.NotifyFD, false}}, ms...)
	}
	return ms
}

// A driver runs one job at a time on a WaitCtx of its own, as an
// application's code around StartJob does.
type driver struct {
	t      *testing.T
	m      mode
	ctx    context.Context
	cancel context.CancelFunc
	pool   *async.Pool
	w      *async.WaitCtx
	job    *async.Job
	err    error         // StartJob's last error
	calls  atomic.Int32  // callbacks received
	called chan struct{} // one token per callback not yet waited for
}

func (s *suite) newDriver(t *testing.T) *driver {
	t.Helper()
	pool, err := async.NewPool(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{t: t, m: s.m, ctx: context.Background(), pool: pool, w: async.NewWaitCtx(), called: make(chan struct{}, 1)}
	if s.m.callback {
		if err := d.w.SetCallback(func(any) int {
			d.calls.Add(1)
			select {
			case d.called <- struct{}{}:
			default:
			}
			return 1
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if d.job != nil {
			d.pool.CancelJob(&d.job)
		}
		d.pool.Close()
		d.w.Free()
	})
	return d
}

// start starts a job that runs fn, expecting it to pause.
func (d *driver) start(fn func(ctx context.Context)) {
	d.t.Helper()
	st, _, err := d.pool.StartJob(d.ctx, &d.job, d.w, func(ctx context.Context, _ []byte) int {
		fn(ctx)
		return 1
	}, nil)
	if st != async.Pause {
		d.t.Fatalf("StartJob: %v, %v; want ASYNC_PAUSE", st, err)
	}
}

// resume resumes the job once.
func (d *driver) resume() async.Status {
	var st async.Status
	st, _, d.err = d.pool.StartJob(d.ctx, &d.job, d.w, nil, nil)
	return st
}

// woken waits up to wait for the job's wake-up: its fd readable, its
// callback called; a job that is polled is always ready.
func (d *driver) woken(wait time.Duration) bool {
	switch {
	case d.w.Status() == async.StatusEAGAIN:
		return true
	case d.m.callback:
		select {
		case <-d.called:
			return true
		case <-time.After(wait):
			return false
		}
	case d.m.notify == engine.NotifyFD:
		return readable(d.t, d.w.AllFDs(), wait)
	}
	return true
}

// finish waits for the job's wake-ups and resumes it until it finishes.
func (d *driver) finish() {
	d.t.Helper()
	deadline := time.Now().Add(patience)
	for {
		if !d.woken(time.Until(deadline)) {
			d.t.Fatalf("a paused job was not woken in %v (%v)", patience, d.m.notify)
		}
		switch st := d.resume(); st {
		case async.Finish:
			if d.err != nil {
				d.t.Fatalf("job: %v", d.err)
			}
			return
		case async.Pause:
			if time.Now().After(deadline) {
				d.t.Fatalf("job still paused after %v", patience)
			}
		default:
			d.t.Fatalf("resuming the job: %v, %v", st, d.err)
		}
	}
}

// checkPaused checks what a job that paused for its operation says: the
// status its Notify calls for, and the engine's one fd in fd mode.
func (d *driver) checkPaused(when string) {
	d.t.Helper()
	want := async.StatusUnsupported
	if d.m.callback {
		want = async.StatusOK
	}
	if st := d.w.Status(); st != want {
		d.t.Errorf("%s: status %v; want %v", when, st, want)
	}
	fds := d.w.AllFDs()
	switch {
	case d.m.notify == engine.NotifyFD && len(fds) != 1:
		d.t.Errorf("%s: wait fds %v; want the engine's one", when, fds)
	case d.m.notify != engine.NotifyFD && len(fds) != 0:
		d.t.Errorf("%s: wait fds %v with %v; want none", when, fds, d.m.notify)
	}
}

// checkQuiet checks that no wake-up is left over once an operation has
// returned: the fd is not readable.
func (d *driver) checkQuiet(when string) {
	d.t.Helper()
	if d.m.notify == engine.NotifyFD && readable(d.t, d.w.AllFDs(), 0) {
		d.t.Errorf("%s: the wait fd is still readable", when)
	}
}
