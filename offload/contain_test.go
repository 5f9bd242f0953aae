//go:build linux

package offload_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/offload"
)

// What the engine does when code of the application that it runs on a
// worker (Do's func, a WaitCtx's callback) does not simply return.

// TestDoGoexit: a Do func that calls runtime.Goexit, as t.FailNow does,
// makes Do return a *PanicError for ErrGoexit, and the engine keeps its
// worker: with one worker, a Goexit that took it for good would leave
// every later request unserved.
func TestDoGoexit(t *testing.T) {
	for _, mode := range []waitMode{waitFD, waitCallback, waitPoll} {
		t.Run(mode.String(), func(t *testing.T) {
			baseG := runtime.NumGoroutine()
			e, err := offload.New(offload.Config{Workers: 1, Notify: notifyFor(mode)})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			pool := newPool(t)
			s := newSession(t, mode)
			defer s.w.Free()
			for i := range 3 {
				var exitErr, nextErr error
				s.run(pool, func(ctx context.Context, _ []byte) int {
					exitErr = e.Do(ctx, func() { runtime.Goexit() })
					nextErr = e.Do(ctx, func() {})
					return 0
				})
				var pe *offload.PanicError
				if !errors.Is(exitErr, offload.ErrGoexit) || !errors.As(exitErr, &pe) || pe.Callback {
					t.Fatalf("round %d: Do with Goexit: %v; want a *PanicError for ErrGoexit from Do", i, exitErr)
				}
				if !bytes.Contains(pe.Stack, []byte("TestDoGoexit")) {
					t.Errorf("round %d: PanicError.Stack lacks the func that exited:\n%s", i, pe.Stack)
				}
				if nextErr != nil {
					t.Fatalf("round %d: Do after the Goexit: %v", i, nextErr)
				}
			}
			if err := pool.Close(); err != nil {
				t.Error(err)
			}
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if !settle(func() bool { return runtime.NumGoroutine() <= baseG }) {
				t.Errorf("%d goroutines after Close; base %d", runtime.NumGoroutine(), baseG)
			}
		})
	}
}

// pollToEnd resumes a paused job until it ends, without waiting for any
// wake-up (a callback that failed never gave one); it gives up after 10s.
func pollToEnd(t *testing.T, pool *async.Pool, w *async.WaitCtx, job *async.Job) (async.Status, int, error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, ret, err := pool.StartJob(context.Background(), &job, w, nil, nil)
		if st != async.Pause {
			return st, ret, err
		}
		if time.Now().After(deadline) {
			t.Fatal("job still paused after 10s")
		}
		runtime.Gosched()
	}
}

// TestCallbackFails: a WaitCtx callback that panics, or calls
// runtime.Goexit, on a worker neither kills the process nor costs the
// engine its worker; the operation it was for returns a *PanicError that
// carries the panic value, and other jobs are not disturbed. The job is
// resumed (polled: its callback never told the application), or canceled,
// in which case the operation reports the cancellation too.
func TestCallbackFails(t *testing.T) {
	for _, cancel := range []bool{false, true} {
		t.Run(map[bool]string{false: "resumed", true: "canceled"}[cancel], func(t *testing.T) {
			testCallbackFails(t, cancel)
		})
	}
}

func testCallbackFails(t *testing.T, cancel bool) {
	for _, tc := range []struct {
		name string
		fail func()
		is   func(*offload.PanicError) bool
	}{
		{"panic", func() { panic("callback boom") },
			func(pe *offload.PanicError) bool { return pe.Value == "callback boom" }},
		{"Goexit", runtime.Goexit,
			func(pe *offload.PanicError) bool { return errors.Is(pe, offload.ErrGoexit) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, offload.Config{Workers: 1})
			pool := newPool(t)
			bad := async.NewWaitCtx()
			defer bad.Free()
			if err := bad.SetCallback(func(any) int { tc.fail(); return 1 }, nil); err != nil {
				t.Fatal(err)
			}
			good := newSession(t, waitCallback)
			defer good.w.Free()

			var badErr, goodErr error
			var badSum [32]byte
			badJob := newJobOn(t, pool, bad, func(ctx context.Context, _ []byte) int {
				badSum, badErr = e.SHA256(ctx, []byte("bad"))
				return 1
			})
			goodJob := good.start(pool, func(ctx context.Context, _ []byte) int {
				_, goodErr = e.SHA256(ctx, []byte("good"))
				return 2
			})
			// One worker serves the ring in order: once the good job's
			// callback came, the worker is done with the bad one, whose
			// application was never told that its job can go on.
			good.wait()
			if cancel {
				if ret, err := pool.CancelJob(&badJob); ret != 1 || err != nil {
					t.Fatalf("CancelJob: %d, %v", ret, err)
				}
				if !errors.Is(badErr, async.ErrCanceled) {
					t.Errorf("canceled operation: %v; want ErrCanceled", badErr)
				}
			} else if st, ret, err := pollToEnd(t, pool, bad, badJob); st != async.Finish || ret != 1 {
				t.Fatalf("job with the failing callback: %v, %d, %v", st, ret, err)
			}
			var pe *offload.PanicError
			if !errors.As(badErr, &pe) || !pe.Callback || !tc.is(pe) || len(pe.Stack) == 0 {
				t.Errorf("operation whose callback failed: %v, sum %x; want a *PanicError from the callback", badErr, badSum)
			}
			if st, ret, err := pollToEnd(t, pool, good.w, goodJob); st != async.Finish || ret != 2 || goodErr != nil {
				t.Errorf("the other job: %v, %d, %v; operation %v", st, ret, err, goodErr)
			}
			// The one worker still serves.
			good.run(pool, func(ctx context.Context, _ []byte) int {
				if _, err := e.SHA256(ctx, []byte("after")); err != nil {
					t.Errorf("after the failed callback: %v", err)
				}
				return 0
			})
			if err := e.Close(); err != nil {
				t.Errorf("Close: %v; the failure was reported already", err)
			}
		})
	}
}

// newJobOn starts fn as a job with w and expects it to pause.
func newJobOn(t *testing.T, pool *async.Pool, w *async.WaitCtx, fn async.Func) *async.Job {
	t.Helper()
	var job *async.Job
	if st, _, err := pool.StartJob(context.Background(), &job, w, fn, nil); st != async.Pause {
		t.Fatalf("StartJob: %v, %v; want ASYNC_PAUSE", st, err)
	}
	return job
}

// TestCallbackResumesOwnJob: a callback that resumes or cancels its own
// job, on the worker's goroutine, before returning. The engine must not
// wait for the callback to return before the job can go on: the job would
// then wait for the very worker that runs it. "late panic" also panics
// after the job has finished: no operation is left to report that to, so
// Close does.
func TestCallbackResumesOwnJob(t *testing.T) {
	type result struct {
		st  async.Status
		ret int
		err error
	}
	for _, how := range []string{"resume", "cancel", "late panic"} {
		t.Run(how, func(t *testing.T) {
			// No t.Cleanup closes the engine or the pool: if the job
			// livelocks on the worker, neither Close could return, and the
			// test must fail rather than hang.
			e, err := offload.New(offload.Config{Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			pool, err := async.NewPool(0, 0)
			if err != nil {
				t.Fatal(err)
			}
			w := async.NewWaitCtx()
			var job *async.Job
			ready := make(chan struct{})
			results := make(chan result, 8)
			err = w.SetCallback(func(any) int {
				<-ready // job is set
				var r result
				if how == "cancel" {
					r.ret, r.err = pool.CancelJob(&job)
				} else {
					r.st, r.ret, r.err = pool.StartJob(context.Background(), &job, w, nil, nil)
				}
				results <- r
				if how == "late panic" && r.st == async.Finish {
					panic("late")
				}
				return 1
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			var errs []error
			fn := func(ctx context.Context, _ []byte) int {
				for range 2 {
					err := e.Do(ctx, func() {})
					errs = append(errs, err)
					if err != nil {
						return 1
					}
				}
				return 7
			}
			st, _, err := pool.StartJob(context.Background(), &job, w, fn, nil)
			if st != async.Pause {
				t.Fatalf("StartJob: %v, %v", st, err)
			}
			close(ready)

			want := []result{{st: async.Pause}, {st: async.Finish, ret: 7}}
			if how == "cancel" {
				want = []result{{ret: 1}}
			}
			for i, wr := range want {
				select {
				case r := <-results:
					if r != wr {
						t.Errorf("callback's call %d: %v, %d, %v; want %v, %d", i, r.st, r.ret, r.err, wr.st, wr.ret)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("callback's call %d never returned: the job waits for the callback that runs it", i)
				}
			}
			switch how {
			case "cancel":
				if len(errs) != 1 || !errors.Is(errs[0], async.ErrCanceled) {
					t.Errorf("operations: %v; want ErrCanceled", errs)
				}
			default:
				if len(errs) != 2 || errs[0] != nil || errs[1] != nil {
					t.Errorf("operations: %v", errs)
				}
			}
			if err := pool.Close(); err != nil {
				t.Error(err)
			}
			err = e.Close()
			var pe *offload.PanicError
			if how == "late panic" {
				if !errors.As(err, &pe) || pe.Value != "late" || !pe.Callback {
					t.Errorf("Close: %v; want the late callback panic", err)
				}
			} else if err != nil {
				t.Errorf("Close: %v", err)
			}
			w.Free()
		})
	}
}
