//go:build linux

package loop

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
)

// tally runs n tasks made by mk through Run and checks that every task
// taken got exactly one Result. It returns the Results by task index and
// how many tasks were taken.
func tally(t *testing.T, ctx context.Context, cfg Config, n int, mk func(i int) Task) ([]Result, int, error) {
	t.Helper()
	results := make([]Result, 0, 64)
	counts := make([]int, 0, 64)
	taken := 0
	err := Run(ctx, cfg, func() (Task, bool) {
		if n >= 0 && taken == n {
			return Task{}, false
		}
		task := mk(taken)
		task.Tag = taken
		taken++
		results = append(results, Result{})
		counts = append(counts, 0)
		return task, true
	}, func(r Result) {
		i := r.Tag.(int)
		counts[i]++
		results[i] = r
	})
	for i, c := range counts {
		if c != 1 {
			t.Errorf("task %d: %d results", i, c)
		}
	}
	return results, taken, err
}

func newPool(t *testing.T, max int) *async.Pool {
	p, err := async.NewPool(max, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("pool.Close: %v", err)
		}
	})
	return p
}

func checkPool(t *testing.T, p *async.Pool) {
	t.Helper()
	if st := p.Stats(); st.Paused != 0 || st.Size != st.Idle {
		t.Errorf("pool after Run: %+v", st)
	}
}

func TestEndToEnd(t *testing.T) {
	cases := []struct {
		name     string
		mode     Mode
		kind     notifyKind
		ring     int64
		inFlight int
		n        int
	}{
		{"FD/fd", ModeFD, kindFD, 0, 64, 2000},
		{"FD/fd-eagain", ModeFD, kindFD, 4, 64, 1000},
		{"FD/poll", ModeFD, kindPoll, 0, 64, 2000},
		{"FD/shared-fd", ModeFD, kindSharedFD, 0, 16, 300},
		{"FD/churn-fd", ModeFD, kindChurnFD, 0, 64, 2000},
		{"Callback/callback", ModeCallback, kindCallback, 0, 64, 2000},
		{"Callback/callback-eagain", ModeCallback, kindCallback, 4, 64, 1000},
		{"Callback/fd", ModeCallback, kindFD, 0, 64, 2000},
		{"Callback/poll", ModeCallback, kindPoll, 0, 64, 2000},
		{"Poll/poll", ModePoll, kindPoll, 0, 64, 2000},
		{"Poll/poll-eagain", ModePoll, kindPoll, 4, 64, 1000},
		{"Poll/fd", ModePoll, kindFD, 0, 64, 2000},
		{"FD/fd-inflight1", ModeFD, kindFD, 0, 1, 200},
		{"Callback/default-inflight", ModeCallback, kindCallback, 0, 0, 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			leakCheck(t)
			e := newFakeEngine(t, c.kind, 2)
			e.ringCap = c.ring
			pool := newPool(t, 0)
			ops := func(i int) int { return 1 + i%3 }
			results, taken, err := tally(t, context.Background(), Config{Pool: pool, InFlight: c.inFlight, Mode: c.mode}, c.n,
				func(i int) Task { return Task{Fn: e.task, Args: taskArgs(i, ops(i))} })
			if err != nil {
				t.Fatal(err)
			}
			if taken != c.n {
				t.Fatalf("%d tasks taken, want %d", taken, c.n)
			}
			for i, r := range results {
				if r.Err != nil || r.Ret != expected(i, ops(i)) {
					t.Fatalf("task %d: %+v, want Ret %d", i, r, expected(i, ops(i)))
				}
			}
			if c.ring > 0 && e.eagains.Load() == 0 {
				t.Errorf("no StatusEAGAIN happened")
			}
			checkPool(t, pool)
			t.Logf("eagains %d, spurious resumes %d", e.eagains.Load(), e.spurious.Load())
		})
	}
}

// TestPrivatePool runs with Config.Pool nil: the loop's own pool must be
// closed, leaving no goroutine behind.
func TestPrivatePool(t *testing.T) {
	leakCheck(t)
	e := newFakeEngine(t, kindCallback, 2)
	results, _, err := tally(t, context.Background(), Config{InFlight: 8, Mode: ModeCallback}, 300,
		func(i int) Task { return Task{Fn: e.task, Args: taskArgs(i, 2)} })
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil || r.Ret != expected(i, 2) {
			t.Fatalf("task %d: %+v", i, r)
		}
	}
}

func TestNoJobsBackPressure(t *testing.T) {
	leakCheck(t)
	e := newFakeEngine(t, kindFD, 2)
	pool := newPool(t, 4)
	var active, peak atomic.Int64
	fn := func(ctx context.Context, args []byte) int {
		a := active.Add(1)
		defer active.Add(-1)
		for p := peak.Load(); a > p && !peak.CompareAndSwap(p, a); p = peak.Load() {
		}
		return e.task(ctx, args)
	}
	var noJobs int
	testHookNoJobs = func() { noJobs++ }
	defer func() { testHookNoJobs = nil }()
	const n = 500
	results, _, err := tally(t, context.Background(), Config{Pool: pool, InFlight: 16, Mode: ModeFD}, n,
		func(i int) Task { return Task{Fn: fn, Args: taskArgs(i, 1)} })
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil || r.Ret != expected(i, 1) {
			t.Fatalf("task %d: %+v", i, r)
		}
	}
	if p := peak.Load(); p > 4 {
		t.Errorf("%d jobs at once in a pool of 4", p)
	}
	// Each NoJobs is retried only after a job of the loop's finished.
	if noJobs == 0 || noJobs > n {
		t.Errorf("%d NoJobs reports for %d tasks", noJobs, n)
	}
	if st := pool.Stats(); st.Size > 4 {
		t.Errorf("pool: %+v", st)
	}
	checkPool(t, pool)
	t.Logf("NoJobs reports: %d", noJobs)
}

// TestNoJobsSharedPool: the pool's only job is held by someone else, so
// the loop has nothing in flight to wait for; it must sleep between
// retries, not spin.
func TestNoJobsSharedPool(t *testing.T) {
	leakCheck(t)
	pool := newPool(t, 1)
	w := async.NewWaitCtx()
	defer w.Free()
	var held *async.Job
	st, _, err := pool.StartJob(context.Background(), &held, w, func(ctx context.Context, _ []byte) int {
		async.PauseJob(ctx)
		return 0
	}, nil)
	if st != async.Pause {
		t.Fatal(st, err)
	}
	var noJobs int
	testHookNoJobs = func() { noJobs++ }
	defer func() { testHookNoJobs = nil }()
	go func() {
		time.Sleep(60 * time.Millisecond)
		pool.CancelJob(&held)
	}()
	results, _, err := tally(t, context.Background(), Config{Pool: pool, InFlight: 2, Mode: ModeFD}, 20,
		func(i int) Task {
			return Task{Fn: func(context.Context, []byte) int { return i }}
		})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil || r.Ret != i {
			t.Fatalf("task %d: %+v", i, r)
		}
	}
	if noJobs == 0 || noJobs > 15 {
		t.Errorf("%d NoJobs reports in 60ms", noJobs)
	}
	t.Logf("NoJobs reports: %d", noJobs)
}

func TestCancel(t *testing.T) {
	cases := []struct {
		name    string
		mode    Mode
		kind    notifyKind
		poolMax int
		timeout bool
	}{
		{"FD", ModeFD, kindFD, 0, false},
		{"Callback", ModeCallback, kindCallback, 0, false},
		{"Poll", ModePoll, kindPoll, 0, false},
		{"FD/poll-engine", ModeFD, kindPoll, 0, false},
		{"FD/NoJobs-pending", ModeFD, kindFD, 4, false},
		{"Callback/deadline", ModeCallback, kindCallback, 0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			leakCheck(t)
			e := newFakeEngine(t, c.kind, 1)
			e.never = true
			pool := newPool(t, c.poolMax)
			want := int64(64)
			if c.poolMax > 0 {
				want = int64(c.poolMax)
			}
			var ctx context.Context
			var cancel context.CancelFunc
			if c.timeout {
				ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
			} else {
				ctx, cancel = context.WithCancel(context.Background())
				go func() {
					for deadline := time.Now().Add(5 * time.Second); e.paused.Load() < want && time.Now().Before(deadline); {
						time.Sleep(time.Millisecond)
					}
					cancel()
				}()
			}
			defer cancel()
			t0 := time.Now()
			results, taken, err := tally(t, ctx, Config{Pool: pool, InFlight: 64, Mode: c.mode}, -1,
				func(i int) Task { return Task{Fn: e.task, Args: taskArgs(i, 1)} })
			if !errors.Is(err, ctx.Err()) || err == nil {
				t.Fatalf("Run: %v, ctx: %v", err, ctx.Err())
			}
			if d := time.Since(t0); d > 3*time.Second {
				t.Errorf("Run took %v", d)
			}
			if taken < int(want) {
				t.Errorf("%d tasks taken, want at least %d", taken, want)
			}
			for i, r := range results {
				if !errors.Is(r.Err, ctx.Err()) {
					t.Fatalf("task %d: %+v", i, r)
				}
			}
			checkPool(t, pool)
			if e.paused.Load() != 0 {
				t.Errorf("%d ops still paused", e.paused.Load())
			}
		})
	}
}

func TestCanceledBeforeRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, Config{}, func() (Task, bool) {
		t.Fatal("next called")
		return Task{}, false
	}, func(Result) {})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func TestPanickingTask(t *testing.T) {
	leakCheck(t)
	e := newFakeEngine(t, kindFD, 2)
	pool := newPool(t, 0)
	fn := func(ctx context.Context, args []byte) int {
		switch args[5] {
		case 1:
			panic("before pausing")
		case 2:
			e.task(ctx, args)
			panic(errors.New("after pausing"))
		}
		return e.task(ctx, args)
	}
	results, _, err := tally(t, context.Background(), Config{Pool: pool, InFlight: 16, Mode: ModeFD}, 300,
		func(i int) Task {
			return Task{Fn: fn, Args: append(taskArgs(i, 1), byte(i%3))}
		})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		var pe *async.PanicError
		switch i % 3 {
		case 0:
			if r.Err != nil || r.Ret != expected(i, 1) {
				t.Fatalf("task %d: %+v", i, r)
			}
		case 1:
			if !errors.As(r.Err, &pe) || pe.Value != "before pausing" {
				t.Fatalf("task %d: %+v", i, r)
			}
		case 2:
			if !errors.As(r.Err, &pe) || r.Err.Error() != "async: job panicked: after pausing" {
				t.Fatalf("task %d: %+v", i, r)
			}
		}
	}
	checkPool(t, pool)
}

func TestNilFunc(t *testing.T) {
	results, _, err := tally(t, context.Background(), Config{}, 3, func(int) Task { return Task{} })
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if !errors.Is(r.Err, async.ErrNilFunc) {
			t.Errorf("task %d: %+v", i, r)
		}
	}
}

// TestPanicInDone: a panic in done propagates, after the loop cancelled
// its paused jobs and closed its descriptors.
func TestPanicInDone(t *testing.T) {
	leakCheck(t)
	e := newFakeEngine(t, kindFD, 2)
	pool := newPool(t, 0)
	i := 0
	func() {
		defer func() {
			if v := recover(); v != "done panicked" {
				t.Errorf("recovered %v", v)
			}
		}()
		Run(context.Background(), Config{Pool: pool, InFlight: 16}, func() (Task, bool) {
			i++
			return Task{Fn: e.task, Args: taskArgs(i, 3)}, true
		}, func(Result) { panic("done panicked") })
	}()
	checkPool(t, pool)
}

func TestBadConfig(t *testing.T) {
	ctx := context.Background()
	next := func() (Task, bool) { return Task{}, false }
	done := func(Result) {}
	cases := []struct {
		name string
		run  func() error
	}{
		{"negative InFlight", func() error { return Run(ctx, Config{InFlight: -1}, next, done) }},
		{"huge InFlight", func() error { return Run(ctx, Config{InFlight: MaxInFlight + 1}, next, done) }},
		{"bad Mode", func() error { return Run(ctx, Config{Mode: ModePoll + 1}, next, done) }},
		{"negative Mode", func() error { return Run(ctx, Config{Mode: -1}, next, done) }},
		//lint:ignore SA1012 Run's answer to a nil ctx is under test
		{"nil ctx", func() error { return Run(nil, Config{}, next, done) }},
		{"nil next", func() error { return Run(ctx, Config{}, nil, done) }},
		{"nil done", func() error { return Run(ctx, Config{}, next, nil) }},
	}
	for _, c := range cases {
		if err := c.run(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	if err := Run(ctx, Config{}, next, done); err != nil {
		t.Errorf("no work: %v", err)
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{ModeFD: "ModeFD", ModeCallback: "ModeCallback", ModePoll: "ModePoll", 9: "Mode(9)"} {
		if got := m.String(); got != want {
			t.Errorf("%d: %q", int(m), got)
		}
	}
}

// TestSteadyStateAllocs counts heap allocations while the loop runs
// zero-work tasks, after the first ones warmed it up.
func TestSteadyStateAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	for _, m := range []Mode{ModeFD, ModeCallback, ModePoll} {
		const warm, measure = 1000, 5000
		var ms runtime.MemStats
		var before uint64
		i := 0
		fn := benchFuncs[m]
		err := Run(context.Background(), Config{InFlight: 64, Mode: m}, func() (Task, bool) {
			switch i {
			case warm:
				runtime.ReadMemStats(&ms)
				before = ms.Mallocs
			case warm + measure:
				runtime.ReadMemStats(&ms)
				return Task{}, false
			}
			i++
			return Task{Fn: fn}, true
		}, func(Result) {})
		if err != nil {
			t.Fatal(err)
		}
		if n := ms.Mallocs - before; n > 0 {
			t.Errorf("%v: %d allocations in %d tasks", m, n, measure)
		}
	}
}

// TestUnpollableFD: a wait fd epoll refuses (a regular file) cannot be
// waited on, so its job is polled instead.
func TestUnpollableFD(t *testing.T) {
	leakCheck(t)
	f, err := os.CreateTemp(t.TempDir(), "waitfd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	key := new(int)
	fn := func(ctx context.Context, args []byte) int {
		w := async.CurrentJob(ctx).WaitCtx()
		if _, _, ok := w.FD(key); !ok {
			w.SetWaitFD(key, int(f.Fd()), nil, nil)
		}
		for range 3 {
			if async.PauseJob(ctx) != nil {
				return -1
			}
		}
		return int(args[0])
	}
	results, _, err := tally(t, context.Background(), Config{InFlight: 4, Mode: ModeFD}, 50,
		func(i int) Task { return Task{Fn: fn, Args: []byte{byte(i)}} })
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil || r.Ret != i {
			t.Fatalf("task %d: %+v", i, r)
		}
	}
}

// Fault: a shared pool closed under Run gave the tasks Close was unwinding
// "job is running", where the documentation promises async.ErrClosed.
func TestSharedPoolClosedUnderRun(t *testing.T) {
	leakCheck(t)
	pool, err := async.NewPool(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var paused atomic.Int32
	var isClosed atomic.Bool
	closed := make(chan error, 1)
	go func() {
		for paused.Load() < n {
			runtime.Gosched()
		}
		closed <- pool.Close()
		isClosed.Store(true)
	}()
	fn := func(ctx context.Context, _ []byte) int {
		paused.Add(1)
		for async.PauseJob(ctx) == nil { // polled until the pool closes
		}
		return -1
	}
	// Tasks keep coming until Close has returned (those it misses fail to
	// start), and no more than 10000 of them.
	var results []Result
	taken := 0
	err = Run(context.Background(), Config{Pool: pool, InFlight: n, Mode: ModePoll},
		func() (Task, bool) {
			if isClosed.Load() || taken == 10000 {
				return Task{}, false
			}
			taken++
			return Task{Fn: fn}, true
		},
		func(r Result) { results = append(results, r) })
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := <-closed; err != nil && !errors.Is(err, async.ErrJobsOutstanding) {
		t.Errorf("Close = %v", err)
	}
	if taken < n || len(results) != taken {
		t.Fatalf("%d tasks taken, %d results; want at least %d, one each", taken, len(results), n)
	}
	for i, r := range results {
		if !errors.Is(r.Err, async.ErrClosed) || r.Err.Error() != async.ErrClosed.Error() {
			t.Errorf("result %d: Err = %q; want async.ErrClosed alone", i, r.Err)
		}
	}
}

// Item 1 of the second core audit: a task that calls runtime.Goexit, and
// panics while the Goexit unwinds it, ended Run's goroutine without a
// result. Run must report the panic as the task's Result and go on.
func TestGoexitPanickingTask(t *testing.T) {
	leakCheck(t)
	e := newFakeEngine(t, kindFD, 2)
	fn := func(ctx context.Context, args []byte) int {
		if args[5] == 0 {
			return e.task(ctx, args)
		}
		if args[5] == 2 {
			e.task(ctx, args) // pause first: the Goexit comes on a resume
		}
		defer func() { panic("during Goexit") }()
		runtime.Goexit()
		return 0
	}
	var results []Result
	var err error
	returned := make(chan bool)
	go func() {
		ok := false
		defer func() { returned <- ok }()
		results, _, err = tally(t, context.Background(), Config{InFlight: 8, Mode: ModeFD}, 90,
			func(i int) Task { return Task{Fn: fn, Args: append(taskArgs(i, 1), byte(i%3))} })
		ok = true
	}()
	if !<-returned {
		t.Fatal("Run ended its goroutine")
	}
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		var pe *async.PanicError
		if i%3 == 0 {
			if r.Err != nil || r.Ret != expected(i, 1) {
				t.Fatalf("task %d: %+v", i, r)
			}
		} else if !errors.As(r.Err, &pe) || pe.Value != "during Goexit" {
			t.Fatalf("task %d: %+v; want the panic during its Goexit", i, r)
		}
	}
}

// Found by reading in the second core audit: a task that freed its
// slot's WaitCtx, or replaced its callback, left the slot so for every
// later task in it: each later task failed at once with ErrFreed, or
// paused waiting for a callback that never came. InFlight 1 puts every
// task in the one slot.
func TestTaskSpoilsItsWaitCtx(t *testing.T) {
	cases := []struct {
		name  string
		mode  Mode
		kind  notifyKind
		spoil func(w *async.WaitCtx)
	}{
		{"FD/free", ModeFD, kindFD, (*async.WaitCtx).Free},
		{"Poll/free", ModePoll, kindPoll, (*async.WaitCtx).Free},
		{"Callback/free", ModeCallback, kindCallback, (*async.WaitCtx).Free},
		{"Callback/replace", ModeCallback, kindCallback, func(w *async.WaitCtx) {
			w.SetCallback(func(any) int { return 0 }, nil)
		}},
		{"Callback/remove", ModeCallback, kindCallback, func(w *async.WaitCtx) { w.SetCallback(nil, nil) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			leakCheck(t)
			e := newFakeEngine(t, c.kind, 1)
			spoiler := func(ctx context.Context, args []byte) int {
				ret := e.task(ctx, args)
				c.spoil(async.CurrentJob(ctx).WaitCtx())
				return ret
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			results, _, err := tally(t, ctx, Config{InFlight: 1, Mode: c.mode}, 40, func(i int) Task {
				if i%10 == 3 {
					return Task{Fn: spoiler, Args: taskArgs(i, 1)}
				}
				return Task{Fn: e.task, Args: taskArgs(i, 2)}
			})
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
			for i, r := range results {
				ops := 2
				if i%10 == 3 {
					ops = 1
				}
				if r.Err != nil || r.Ret != expected(i, ops) {
					t.Fatalf("task %d: %+v, want Ret %d", i, r, expected(i, ops))
				}
			}
		})
	}
}
