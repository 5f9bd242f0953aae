package enginetest

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/engine"
	"github.com/seed-e1024768/async/internal/leaktest"
)

// Engine is the engine under test, as the suite drives it.
type Engine struct {
	// Op runs one operation of the engine with ctx, from inside a job when
	// ctx carries one (it blocks otherwise), and returns its error.
	Op func(ctx context.Context) error
	// Hold makes the engine keep the operations submitted from now on,
	// neither completing nor failing them, until release is called; ops
	// submitted after release complete as usual. release may be called
	// more than once.
	Hold func() (release func())
	// Close closes the engine and returns its Close's error.
	Close func() error
}

// Config is what the suite asks of the engine it makes.
type Config struct {
	// Notify is how the engine must wake paused jobs.
	Notify engine.Notify
	// Bound is the most operations the engine should take at once before
	// it answers async.StatusEAGAIN (a queue's depth, requests in
	// flight). An engine may take a few more (those its goroutines are
	// running), but must reach its bound with well under 4*Bound+64.
	Bound int
}

// bound is the Config.Bound the suite asks for.
const bound = 4

// patience bounds every wait of the suite: a contract kept answers in
// milliseconds; a broken one must fail the test, not hang it.
const patience = 10 * time.Second

// TestEngine runs the contract against engines made by mk, a fresh one for
// each subtest. mk fails t if it cannot make one; the suite closes it.
func TestEngine(t *testing.T, mk func(t *testing.T, cfg Config) *Engine) {
	for _, m := range modes() {
		t.Run(m.name, func(t *testing.T) {
			s := &suite{mk: mk, m: m}
			t.Run("Blocking", s.testBlocking)
			t.Run("Wake", s.testWake)
			t.Run("SpuriousResume", s.testSpurious)
			t.Run("EAGAIN", s.testEAGAIN)
			t.Run("Cancel", s.testCancel)
			t.Run("PoolClose", s.testPoolClose)
			t.Run("CtxDone", s.testCtxDone)
			t.Run("Deadline", s.testDeadline)
			t.Run("Loop", s.testLoop)
			if m.callback {
				t.Run("CallbackPanics", func(t *testing.T) { s.testCallbackFails(t, false) })
				t.Run("CallbackGoexits", func(t *testing.T) { s.testCallbackFails(t, true) })
				t.Run("CallbackResumesJob", s.testCallbackResumes)
			}
		})
	}
}

type suite struct {
	mk func(t *testing.T, cfg Config) *Engine
	m  mode
}

// engine makes the engine for a subtest, checking that nothing it starts
// outlives the subtest; closeOK says whether the suite expects its Close
// to return nil (the test that expects an error closes it itself).
func (s *suite) engine(t *testing.T) *Engine {
	t.Helper()
	leaktest.Check(t)
	e := s.mk(t, Config{Notify: s.m.notify, Bound: bound})
	if e == nil || e.Op == nil || e.Hold == nil || e.Close == nil {
		t.Fatal("enginetest: the constructor returned an incomplete Engine")
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			if err := e.Close(); err != nil {
				t.Errorf("engine's Close: %v", err)
			}
		}
	})
	return e
}

// hold holds e's operations back until the returned release is called,
// or the test ends: a test that fails while it holds them must not leave
// the engine's Close waiting for them.
func hold(t *testing.T, e *Engine) (release func()) {
	release = e.Hold()
	t.Cleanup(release) // runs before the engine's Close, registered earlier
	return release
}

// testBlocking: outside a job, an operation blocks and succeeds.
func (s *suite) testBlocking(t *testing.T) {
	e := s.engine(t)
	if err := e.Op(context.Background()); err != nil {
		t.Fatalf("operation outside a job: %v", err)
	}
}

// testWake: a job pauses as its Notify says, is woken that way when its
// operation completes, and the wake-up does not outlive the operation.
func (s *suite) testWake(t *testing.T) {
	e := s.engine(t)
	d := s.newDriver(t)
	for i := range 3 {
		release := hold(t, e)
		var opErr error
		d.start(func(ctx context.Context) { opErr = e.Op(ctx) })
		d.checkPaused("held operation")
		if d.woken(time.Millisecond) && s.m.notify != engine.NotifyPoll {
			t.Fatalf("round %d: woken while the operation is held", i)
		}
		release()
		d.finish()
		if opErr != nil {
			t.Fatalf("round %d: operation: %v", i, opErr)
		}
		d.checkQuiet("after the operation returned")
	}
	if s.m.notify == engine.NotifyFD {
		if fds := d.w.AllFDs(); len(fds) != 1 {
			t.Errorf("after 3 operations on one WaitCtx its fds are %v; want the engine's one", fds)
		}
	}
}

// testSpurious: a job resumed before its operation is done pauses again,
// saying again what it waits for; the operation then completes as usual.
func (s *suite) testSpurious(t *testing.T) {
	e := s.engine(t)
	d := s.newDriver(t)
	release := hold(t, e)
	defer release()
	var opErr error
	d.start(func(ctx context.Context) { opErr = e.Op(ctx) })
	for i := range 20 {
		d.w.SetStatus(async.StatusUnsupported) // as package loop does
		if st := d.resume(); st != async.Pause {
			t.Fatalf("spurious resume %d: %v, %v; want ASYNC_PAUSE", i, st, d.err)
		}
		d.checkPaused("after a spurious resume")
	}
	release()
	d.finish()
	if opErr != nil {
		t.Fatalf("operation: %v", opErr)
	}
	d.checkQuiet("after the operation returned")
}

// testEAGAIN: at its bound the engine pauses the job with StatusEAGAIN
// (and no callback), and takes the request once there is room.
func (s *suite) testEAGAIN(t *testing.T) {
	e := s.engine(t)
	release := hold(t, e)
	defer release()
	var drivers []*driver
	errs := make([]error, 4*bound+64)
	found := -1
	for i := range errs {
		d := s.newDriver(t)
		drivers = append(drivers, d)
		d.start(func(ctx context.Context) { errs[i] = e.Op(ctx) })
		if d.w.Status() == async.StatusEAGAIN {
			found = i
			break
		}
		d.checkPaused("below the bound")
	}
	if found < 0 {
		t.Fatalf("%d operations held and none paused with ASYNC_STATUS_EAGAIN (bound %d)", len(errs), bound)
	}
	d := drivers[found]
	if s.m.callback && d.calls.Load() != 0 {
		t.Error("callback called for an ASYNC_STATUS_EAGAIN pause")
	}
	// Resumed while still full: pauses again.
	if st := d.resume(); st != async.Pause {
		t.Fatalf("resumed at the bound: %v, %v; want ASYNC_PAUSE", st, d.err)
	}
	release()
	for i, d := range drivers {
		d.finish()
		if errs[i] != nil {
			t.Errorf("operation %d: %v", i, errs[i])
		}
	}
}

// testCancel: canceling a paused job makes its operation return
// async.ErrCanceled; the late completion wakes no one, and the WaitCtx
// serves the next operation.
func (s *suite) testCancel(t *testing.T) {
	e := s.engine(t)
	d := s.newDriver(t)
	release := hold(t, e)
	var opErr error
	d.start(func(ctx context.Context) { opErr = e.Op(ctx) })
	if _, err := d.pool.CancelJob(&d.job); err != nil {
		t.Fatalf("CancelJob: %v", err)
	}
	if !errors.Is(opErr, async.ErrCanceled) {
		t.Errorf("canceled operation: %v; want async.ErrCanceled", opErr)
	}
	release()
	time.Sleep(10 * time.Millisecond) // let the late completion come
	d.checkQuiet("after a canceled operation's late completion")
	d.start(func(ctx context.Context) { opErr = e.Op(ctx) })
	d.finish()
	if opErr != nil {
		t.Errorf("operation after a canceled one: %v", opErr)
	}
}

// testPoolClose: closing a pool with jobs paused in the engine makes their
// operations return async.ErrClosed.
func (s *suite) testPoolClose(t *testing.T) {
	e := s.engine(t)
	release := hold(t, e)
	defer release()
	pool, err := async.NewPool(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 3)
	for i := range errs {
		d := s.newDriver(t)
		d.pool = pool
		d.start(func(ctx context.Context) { errs[i] = e.Op(ctx) })
	}
	if err := pool.Close(); err != nil && !errors.Is(err, async.ErrJobsOutstanding) {
		t.Fatalf("pool Close: %v", err)
	}
	for i, err := range errs {
		if !errors.Is(err, async.ErrClosed) {
			t.Errorf("operation %d: %v; want async.ErrClosed", i, err)
		}
	}
}

// testCtxDone: an operation whose ctx is done returns its error, in a job
// or not, without pausing.
func (s *suite) testCtxDone(t *testing.T) {
	e := s.engine(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Op(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("blocking operation with a done ctx: %v; want context.Canceled", err)
	}
	d := s.newDriver(t)
	var opErr error
	st, _, err := d.pool.StartJob(ctx, &d.job, d.w, func(ctx context.Context, _ []byte) int {
		opErr = e.Op(ctx)
		return 0
	}, nil)
	if st != async.Finish || err != nil || !errors.Is(opErr, context.Canceled) {
		t.Errorf("operation with a done ctx in a job: %v, %v, operation %v; want ASYNC_FINISH and context.Canceled", st, err, opErr)
	}
}

// testDeadline: an operation whose ctx deadline passes while its job is
// paused returns context.DeadlineExceeded once resumed (the engine may
// wake it; the suite resumes it after the deadline anyway).
func (s *suite) testDeadline(t *testing.T) {
	e := s.engine(t)
	release := hold(t, e)
	defer release()
	d := s.newDriver(t)
	d.ctx, d.cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer d.cancel()
	var opErr error
	d.start(func(ctx context.Context) { opErr = e.Op(ctx) })
	<-d.ctx.Done()
	time.Sleep(20 * time.Millisecond)
	deadline := time.Now().Add(patience)
	for d.job != nil {
		if d.resume(); time.Now().After(deadline) {
			t.Fatal("job still paused long after its ctx deadline")
		}
		runtime.Gosched()
	}
	if !errors.Is(opErr, context.DeadlineExceeded) {
		t.Errorf("operation past its deadline: %v; want context.DeadlineExceeded", opErr)
	}
}

// testCallbackFails: a callback that panics, or calls runtime.Goexit, on
// the engine's goroutine costs neither the process nor the engine: the
// operation it was called for returns a *engine.PanicError with Callback
// set (the job is resumed well after the failure, so the operation has
// not returned yet and must report it; the engine's Close must not), and
// the engine serves the next operations.
func (s *suite) testCallbackFails(t *testing.T, goexit bool) {
	leaktest.Check(t)
	e := s.mk(t, Config{Notify: s.m.notify, Bound: bound})
	d := s.newDriver(t)
	called := make(chan struct{}, 1)
	if err := d.w.SetCallback(func(any) int {
		called <- struct{}{}
		if goexit {
			runtime.Goexit()
		}
		panic("callback boom")
	}, nil); err != nil {
		t.Fatal(err)
	}
	var opErr error
	d.start(func(ctx context.Context) { opErr = e.Op(ctx) })
	select {
	case <-called:
	case <-time.After(patience):
		t.Fatal("callback never called")
	}
	time.Sleep(100 * time.Millisecond) // for the failure to reach the engine
	deadline := time.Now().Add(patience)
	for d.job != nil { // its callback failed: poll
		if d.resume(); time.Now().After(deadline) {
			t.Fatal("job still paused after its callback failed")
		}
		runtime.Gosched()
	}
	failure := opErr
	d2 := s.newDriver(t)
	for i := range 3 {
		d2.start(func(ctx context.Context) { opErr = e.Op(ctx) })
		d2.finish()
		if opErr != nil {
			t.Fatalf("operation %d after the failed callback: %v", i, opErr)
		}
	}
	if closeErr := e.Close(); closeErr != nil {
		t.Errorf("engine's Close: %v; the operation was there to report the failure", closeErr)
	}
	var pe *engine.PanicError
	switch {
	case !errors.As(failure, &pe) || !pe.Callback || len(pe.Stack) == 0:
		t.Errorf("operation whose callback failed: %v; want a *engine.PanicError with Callback set", failure)
	case goexit && !errors.Is(failure, engine.ErrGoexit):
		t.Errorf("callback's Goexit: %v; want engine.ErrGoexit", failure)
	case !goexit && pe.Value != "callback boom":
		t.Errorf("callback's panic: %v; want the panic's value", failure)
	}
}

// testCallbackResumes: a callback may resume its own job, on the engine's
// goroutine, and the job takes its result without waiting for the callback
// to return; a callback that panics after its operation returned is
// reported by the engine's Close.
func (s *suite) testCallbackResumes(t *testing.T) {
	leaktest.Check(t)
	e := s.mk(t, Config{Notify: s.m.notify, Bound: bound})
	d := s.newDriver(t)
	ready := make(chan struct{})
	finished := make(chan error, 4)
	if err := d.w.SetCallback(func(any) int {
		<-ready
		st, _, err := d.pool.StartJob(d.ctx, &d.job, d.w, nil, nil)
		if st == async.Finish {
			finished <- err
			panic("late")
		}
		return 1
	}, nil); err != nil {
		t.Fatal(err)
	}
	var errs []error
	d.start(func(ctx context.Context) {
		for range 2 {
			errs = append(errs, e.Op(ctx))
		}
	})
	close(ready)
	select {
	case err := <-finished:
		if err != nil {
			t.Errorf("job resumed by its callback: %v", err)
		}
	case <-time.After(patience):
		t.Fatal("a job resumed by its own callback never finished: it waits for the callback that runs it")
	}
	if len(errs) != 2 || errs[0] != nil || errs[1] != nil {
		t.Errorf("operations: %v", errs)
	}
	var pe *engine.PanicError
	if err := e.Close(); !errors.As(err, &pe) || pe.Value != "late" || !pe.Callback {
		t.Errorf("engine's Close: %v; want the late callback's *engine.PanicError", err)
	}
}
