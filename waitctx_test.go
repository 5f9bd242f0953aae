package async_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/seed-e1024768/async"
)

type cleanupCall struct {
	key  any
	fd   int
	data any
}

// recorder returns a cleanup that records its calls.
func recorder(calls *[]cleanupCall) async.CleanupFunc {
	return func(_ *async.WaitCtx, key any, fd int, data any) {
		*calls = append(*calls, cleanupCall{key, fd, data})
	}
}

func mustSet(t *testing.T, w *async.WaitCtx, key any, fd int, data any, c async.CleanupFunc) {
	t.Helper()
	if err := w.SetWaitFD(key, fd, data, c); err != nil {
		t.Fatalf("SetWaitFD(%v, %d): %v", key, fd, err)
	}
}

func checkChanged(t *testing.T, w *async.WaitCtx, wantAdded, wantDeleted []int) {
	t.Helper()
	added, deleted := w.ChangedFDs()
	if !slices.Equal(added, wantAdded) || !slices.Equal(deleted, wantDeleted) {
		t.Fatalf("ChangedFDs = %v, %v; want %v, %v", added, deleted, wantAdded, wantDeleted)
	}
}

// "ASYNC_WAIT_CTX_get_all_fds() ... will return the wait file descriptors
// associated with that job" ... "An existing association with a file
// descriptor can be obtained using ASYNC_WAIT_CTX_get_fd()" ... "The
// custom_data parameter can be any value, and will be returned in a
// subsequent call to ASYNC_WAIT_CTX_get_fd()."
func TestWaitFDs(t *testing.T) {
	for name, w := range map[string]*async.WaitCtx{"NewWaitCtx": async.NewWaitCtx(), "zero": new(async.WaitCtx)} {
		t.Run(name, func(t *testing.T) {
			defer w.Free()
			if fds := w.AllFDs(); fds != nil {
				t.Fatalf("new WaitCtx has fds %v", fds)
			}
			type engine struct{ name string }
			e1, e2 := &engine{"one"}, &engine{"two"}
			mustSet(t, w, e1, 10, "data1", nil)
			mustSet(t, w, e2, 20, 2.5, nil)
			mustSet(t, w, "a string key", 30, nil, nil)
			if fds := w.AllFDs(); !slices.Equal(fds, []int{30, 20, 10}) {
				t.Fatalf("AllFDs = %v, want newest first [30 20 10]", fds)
			}
			fd, data, ok := w.FD(e2)
			if fd != 20 || data != 2.5 || !ok {
				t.Fatalf("FD(e2) = %d, %v, %v", fd, data, ok)
			}
			if fd, data, ok := w.FD(&engine{"one"}); ok || fd != 0 || data != nil {
				t.Fatalf("FD of another pointer = %d, %v, %v", fd, data, ok)
			}
			if err := w.SetWaitFD(e1, 11, nil, nil); !errors.Is(err, async.ErrKeyExists) {
				t.Fatalf("second SetWaitFD under one key: %v", err)
			}
			if got := w.AppendAllFDs([]int{1}); !slices.Equal(got, []int{1, 30, 20, 10}) {
				t.Fatalf("AppendAllFDs = %v", got)
			}
		})
	}
}

func TestWaitFDBadArguments(t *testing.T) {
	w := mustWaitCtx(t)
	type withAny struct{ v any }
	nan := math.NaN()
	for _, key := range []any{nil, []int{1}, map[int]int{}, func() {}, withAny{[]byte{}}, [1]any{[]int{}}, nan} {
		if err := w.SetWaitFD(key, 1, nil, nil); !errors.Is(err, async.ErrInvalidKey) {
			t.Errorf("SetWaitFD(%T) = %v, want ErrInvalidKey", key, err)
		}
		if err := w.ClearFD(key); !errors.Is(err, async.ErrInvalidKey) {
			t.Errorf("ClearFD(%T) = %v, want ErrInvalidKey", key, err)
		}
		if _, _, ok := w.FD(key); ok {
			t.Errorf("FD(%T) found an fd", key)
		}
	}
	mustSet(t, w, withAny{1}, 3, nil, nil) // comparable contents are fine
	if err := w.SetWaitFD(1, -1, nil, nil); !errors.Is(err, async.ErrBadFD) {
		t.Fatalf("negative fd: %v", err)
	}
	if err := w.ClearFD(2); !errors.Is(err, async.ErrNoFD) {
		t.Fatalf("ClearFD of an unset key: %v", err)
	}
}

// "[The cleanup] will automatically get called when the ASYNC_WAIT_CTX is
// freed ... The cleanup routine does not get called if the fd is cleared
// directly via a call to ASYNC_WAIT_CTX_clear_fd()."
func TestFreeCallsCleanups(t *testing.T) {
	w := async.NewWaitCtx()
	var calls []cleanupCall
	c := recorder(&calls)
	mustSet(t, w, 1, 10, "d1", c)
	mustSet(t, w, 2, 20, "d2", c)
	mustSet(t, w, 3, 30, "d3", c)
	mustSet(t, w, 4, 40, "d4", nil) // no cleanup: nothing to call
	if err := w.ClearFD(2); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 {
		t.Fatalf("ClearFD called a cleanup: %v", calls)
	}
	var inner []error
	mustSet(t, w, 5, 50, nil, func(w *async.WaitCtx, key any, fd int, data any) {
		// A cleanup may call back into the WaitCtx: it is already freed.
		inner = append(inner, w.SetWaitFD(9, 9, nil, nil), w.ClearFD(1))
	})
	w.Free()
	want := []cleanupCall{{3, 30, "d3"}, {1, 10, "d1"}}
	if !slices.Equal(calls, want) {
		t.Fatalf("cleanups %v, want %v (newest first, cleared one skipped)", calls, want)
	}
	if len(inner) != 2 || !errors.Is(inner[0], async.ErrFreed) || !errors.Is(inner[1], async.ErrFreed) {
		t.Fatalf("calls from a cleanup: %v", inner)
	}
	w.Free() // once only
	if len(calls) != 2 {
		t.Fatalf("second Free called cleanups again: %v", calls)
	}
	var nilW *async.WaitCtx
	nilW.Free()
}

func TestFreedWaitCtx(t *testing.T) {
	w := async.NewWaitCtx()
	mustSet(t, w, 1, 10, nil, nil)
	w.SetCallback(func(any) int { return 1 }, nil)
	w.SetStatus(async.StatusOK)
	w.Free()
	for name, err := range map[string]error{
		"SetWaitFD":   w.SetWaitFD(2, 20, nil, nil),
		"ClearFD":     w.ClearFD(1),
		"SetCallback": w.SetCallback(func(any) int { return 0 }, nil),
		"SetStatus":   w.SetStatus(async.StatusErr),
	} {
		if !errors.Is(err, async.ErrFreed) {
			t.Errorf("%s after Free: %v, want ErrFreed", name, err)
		}
	}
	if fd, data, ok := w.FD(1); fd != 0 || data != nil || ok {
		t.Errorf("FD after Free = %d, %v, %v", fd, data, ok)
	}
	if fds := w.AllFDs(); fds != nil {
		t.Errorf("AllFDs after Free = %v", fds)
	}
	if a, d := w.ChangedFDs(); a != nil || d != nil {
		t.Errorf("ChangedFDs after Free = %v, %v", a, d)
	}
	if fn, arg, ok := w.Callback(); fn != nil || arg != nil || ok {
		t.Errorf("Callback after Free is set")
	}
	if s := w.Status(); s != async.StatusUnsupported {
		t.Errorf("Status after Free = %v", s)
	}
}

func TestNilWaitCtxMethods(t *testing.T) {
	var w *async.WaitCtx
	for name, err := range map[string]error{
		"SetWaitFD": w.SetWaitFD(1, 1, nil, nil), "ClearFD": w.ClearFD(1),
		"SetCallback": w.SetCallback(nil, nil), "SetStatus": w.SetStatus(async.StatusOK),
	} {
		if !errors.Is(err, async.ErrNilWaitCtx) {
			t.Errorf("nil %s: %v", name, err)
		}
	}
	if _, _, ok := w.FD(1); ok || w.AllFDs() != nil || w.Status() != async.StatusUnsupported {
		t.Error("nil WaitCtx reported something")
	}
	if a, d := w.ChangedFDs(); a != nil || d != nil {
		t.Error("nil WaitCtx reported changes")
	}
	if _, _, ok := w.Callback(); ok {
		t.Error("nil WaitCtx has a callback")
	}
	var j *async.Job
	if j.WaitCtx() != nil {
		t.Error("nil Job has a WaitCtx")
	}
}

// "ASYNC_WAIT_CTX_get_changed_fds() can be used to detect if any fds have
// changed since the last call time ASYNC_start_job() returned ASYNC_PAUSE
// (or since the ASYNC_WAIT_CTX was created if no ASYNC_PAUSE result has
// been received)."
func TestChangedFDsWindow(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	checkChanged(t, w, nil, nil)
	mustSet(t, w, "outside", 5, nil, nil) // since creation
	checkChanged(t, w, []int{5}, nil)

	type op func(w *async.WaitCtx) error
	steps := make(chan op, 1)
	fn := func(ctx context.Context, _ []byte) int {
		for {
			f, ok := <-steps
			if !ok {
				return 0
			}
			if err := f(async.CurrentJob(ctx).WaitCtx()); err != nil {
				return -1
			}
			if async.PauseJob(ctx) != nil {
				return -2
			}
		}
	}
	set := func(key, fd int) op { return func(w *async.WaitCtx) error { return w.SetWaitFD(key, fd, nil, nil) } }
	clr := func(key int) op { return func(w *async.WaitCtx) error { return w.ClearFD(key) } }
	both := func(a, b op) op {
		return func(w *async.WaitCtx) error { return errors.Join(a(w), b(w)) }
	}
	var job *async.Job
	run := func(o op) {
		t.Helper()
		steps <- o
		st, _, err := pool.StartJob(bg, &job, w, fn, nil)
		if st != async.Pause {
			t.Fatalf("StartJob = %v, %v", st, err)
		}
	}
	// Starting a job does not reset the window: "outside" is still added.
	run(set(1, 10))
	checkChanged(t, w, []int{10, 5}, nil)
	checkChanged(t, w, []int{10, 5}, nil) // reading changes nothing
	run(set(2, 20))                       // resumed: the window restarts
	checkChanged(t, w, []int{20}, nil)
	run(clr(1)) // cleared after it was seen: deleted
	checkChanged(t, w, nil, []int{10})
	if fds := w.AllFDs(); !slices.Equal(fds, []int{20, 5}) {
		t.Fatalf("AllFDs = %v", fds)
	}
	run(both(set(3, 30), clr(3))) // added and cleared in one window: neither
	checkChanged(t, w, nil, nil)
	run(both(clr(2), set(2, 21))) // replaced under the same key
	checkChanged(t, w, []int{21}, []int{20})
	if a, d := w.AppendChangedFDs([]int{-1}, nil); !slices.Equal(a, []int{-1, 21}) || !slices.Equal(d, []int{20}) {
		t.Fatalf("AppendChangedFDs = %v, %v", a, d)
	}
	close(steps)
	expect(t, async.Finish, 0)(pool.StartJob(bg, &job, nil, nil, nil)) // a resume: the window restarts
	checkChanged(t, w, nil, nil)
	// Neither starting nor finishing a job resets the window.
	expect(t, async.Finish, 1)(pool.StartJob(bg, &job, w, func(ctx context.Context, _ []byte) int {
		async.CurrentJob(ctx).WaitCtx().SetWaitFD(4, 40, nil, nil)
		return 1
	}, nil))
	checkChanged(t, w, []int{40}, nil)
	// The WaitCtx "can be reused after an ASYNC_JOB has finished for a
	// subsequent ASYNC_JOB".
	expect(t, async.Finish, 2)(pool.StartJob(bg, &job, w, pauser(0, 2), nil))
	checkChanged(t, w, []int{40}, nil)
	if fds := w.AllFDs(); !slices.Equal(fds, []int{40, 21, 5}) {
		t.Fatalf("AllFDs = %v", fds)
	}
}

// CancelJob and Close resume the job, so they end the window too.
func TestChangedFDsWindowEndsOnCancel(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, func(ctx context.Context, _ []byte) int {
		async.CurrentJob(ctx).WaitCtx().SetWaitFD(1, 10, nil, nil)
		async.PauseJob(ctx)
		return 0
	}, nil))
	checkChanged(t, w, []int{10}, nil)
	if _, err := pool.CancelJob(&job); err != nil {
		t.Fatal(err)
	}
	checkChanged(t, w, nil, nil)
}

func TestChangedFDsDoesNotAllocate(t *testing.T) {
	w := mustWaitCtx(t)
	type engine struct{ _ byte } // not zero-sized: each new one is a distinct key
	key := &engine{}
	mustSet(t, w, key, 10, nil, nil)
	var structKey any = struct{ a, b int }{1, 2}
	added, deleted, all := make([]int, 0, 4), make([]int, 0, 4), make([]int, 0, 4)
	if n := testing.AllocsPerRun(100, func() {
		added, deleted = w.AppendChangedFDs(added[:0], deleted[:0])
		all = w.AppendAllFDs(all[:0])
		w.FD(key)
		w.FD(structKey)
	}); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

// "ASYNC_WAIT_CTX_set_callback() sets the callback and the callback
// argument." ... "ASYNC_WAIT_CTX_get_callback() returns the callback set".
func TestCallback(t *testing.T) {
	w := mustWaitCtx(t)
	if _, _, ok := w.Callback(); ok {
		t.Fatal("new WaitCtx has a callback")
	}
	var got any
	if err := w.SetCallback(func(arg any) int { got = arg; return 7 }, "arg"); err != nil {
		t.Fatal(err)
	}
	fn, arg, ok := w.Callback()
	if !ok || arg != "arg" || fn(arg) != 7 || got != "arg" {
		t.Fatalf("Callback = %v, %v, %v", fn != nil, arg, ok)
	}
	if err := w.SetCallback(nil, "ignored"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := w.Callback(); ok {
		t.Fatal("SetCallback(nil) left a callback")
	}
}

// "ASYNC_STATUS_UNSUPPORTED ... This is the default value."
func TestStatus(t *testing.T) {
	w := mustWaitCtx(t)
	if s := w.Status(); s != async.StatusUnsupported {
		t.Fatalf("default status %v", s)
	}
	for _, s := range []async.EngineStatus{async.StatusOK, async.StatusEAGAIN, async.StatusErr, async.StatusUnsupported} {
		if err := w.SetStatus(s); err != nil || w.Status() != s {
			t.Fatalf("SetStatus(%v): %v, Status %v", s, err, w.Status())
		}
	}
	for _, s := range []async.EngineStatus{-1, 4} {
		if err := w.SetStatus(s); !errors.Is(err, async.ErrBadStatus) {
			t.Fatalf("SetStatus(%d) = %v", s, err)
		}
	}
}

// The engine's completion goroutine reads the callback while the
// application sets it: no race (run under -race).
func TestCallbackConcurrentUse(t *testing.T) {
	w := mustWaitCtx(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 500 {
				if i%2 == 0 {
					w.SetCallback(func(any) int { return n }, n)
					w.SetStatus(async.StatusOK)
					w.SetWaitFD(i*1000+n, n, nil, nil)
				} else {
					if fn, arg, ok := w.Callback(); ok {
						fn(arg)
					}
					w.Status()
					w.AllFDs()
					w.ChangedFDs()
					w.ClearFD((i-1)*1000 + n)
				}
			}
		}()
	}
	wg.Wait()
}
