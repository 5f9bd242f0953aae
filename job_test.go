package async_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/seed-e1024768/async"
)

// "An asynchronous job is started by calling ASYNC_start_job(). Initially
// *job should be NULL." ... "ASYNC_PAUSE: the job was successfully started
// but was paused before it completed. A handle to the job is placed in
// *job." ... "ASYNC_FINISH: the job completed. *job will be NULL and the
// return value from func will be placed in *ret."
func TestStartPauseResumeFinish(t *testing.T) {
	var pool async.Pool
	defer pool.Close()
	w := mustWaitCtx(t)
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, pauser(2, 42), nil))
	if job == nil {
		t.Fatal("Pause left *job nil")
	}
	first := job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, nil, nil))
	if job != first {
		t.Fatal("resume changed the handle")
	}
	expect(t, async.Finish, 42)(pool.StartJob(bg, &job, w, nil, nil))
	if job != nil {
		t.Fatal("Finish left *job set")
	}
}

func TestFinishWithoutPause(t *testing.T) {
	pool := mustPool(t, 0, 0)
	var job *async.Job
	ret := func(context.Context, []byte) int { return 7 }
	expect(t, async.Finish, 7)(pool.StartJob(bg, &job, mustWaitCtx(t), ret, nil))
	if job != nil {
		t.Fatal("Finish left *job set")
	}
}

// "The data pointed to by args and of size size will be copied and then
// passed as an argument to func when the job starts."
func TestArgsAreCopied(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	args := []byte("hello")
	var seen []string
	fn := func(ctx context.Context, a []byte) int {
		seen = append(seen, string(a))
		a[0] = 'J' // the job's own copy
		async.PauseJob(ctx)
		seen = append(seen, string(a))
		return len(a)
	}
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, fn, args))
	if string(args) != "hello" {
		t.Fatalf("the job wrote through to the caller's args: %q", args)
	}
	copy(args, "XXXXX") // the caller reuses its buffer while the job is paused
	expect(t, async.Finish, 5)(pool.StartJob(bg, &job, w, nil, nil))
	if want := []string{"hello", "Jello"}; strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("job saw %q, want %q", seen, want)
	}
}

func TestNilArgs(t *testing.T) {
	pool := mustPool(t, 1, 1)
	w := mustWaitCtx(t)
	var job *async.Job
	// A job that got args before must not hand them to the next one.
	expect(t, async.Finish, 3)(pool.StartJob(bg, &job, w, func(_ context.Context, a []byte) int { return len(a) }, []byte("abc")))
	expect(t, async.Finish, 1)(pool.StartJob(bg, &job, w, func(_ context.Context, a []byte) int {
		if a == nil {
			return 1
		}
		return 0
	}, nil))
}

// "The func, args and size parameters will be ignored when restarting a
// job."
func TestResumeIgnoresFuncAndArgs(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	var job *async.Job
	fn := func(ctx context.Context, a []byte) int {
		async.PauseJob(ctx)
		return int(a[0])
	}
	other := func(context.Context, []byte) int { return 99 }
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, fn, []byte{5}))
	expect(t, async.Finish, 5)(pool.StartJob(context.TODO(), &job, w, other, []byte{6}))
}

// "jobs can be created up front and reused many times. They are held in a
// pool until they are needed, at which point they are removed from the
// pool, used, and then returned to the pool when the job completes."
func TestJobsAreReused(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	handles := map[*async.Job]bool{}
	for range 5 {
		var job *async.Job
		expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, pauser(1, 1), nil))
		handles[job] = true
		expect(t, async.Finish, 1)(pool.StartJob(bg, &job, w, nil, nil))
	}
	if len(handles) != 1 {
		t.Fatalf("5 jobs one after another used %d jobs, want 1 reused", len(handles))
	}
	if s := pool.Stats(); s.Size != 1 || s.Idle != 1 || s.Started != 5 || s.Paused != 0 {
		t.Fatalf("Stats = %+v, want Size 1, Idle 1, Started 5", s)
	}
}

// "When the pool is first initialised init_size ASYNC_JOBs will be created
// immediately."
func TestInitSize(t *testing.T) {
	pool := mustPool(t, 5, 3)
	if s := pool.Stats(); s != (async.PoolStats{Max: 5, Size: 3, Idle: 3}) {
		t.Fatalf("Stats = %+v", s)
	}
}

// "The max_size argument limits the number of ASYNC_JOBs that will be held
// in the pool." ... "ASYNC_NO_JOBS: There are no jobs currently available
// in the pool. This call can be retried again at a later time."
func TestMaxSizeAndNoJobs(t *testing.T) {
	pool := mustPool(t, 2, 0)
	w1, w2, w3 := mustWaitCtx(t), mustWaitCtx(t), mustWaitCtx(t)
	var j1, j2, j3 *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &j1, w1, pauser(1, 1), nil))
	expect(t, async.Pause, 0)(pool.StartJob(bg, &j2, w2, pauser(1, 2), nil))
	st, ret, err := pool.StartJob(bg, &j3, w3, pauser(1, 3), nil)
	if st != async.NoJobs || ret != 0 || err != nil || j3 != nil {
		t.Fatalf("third job at max 2: %v, %d, %v, job %p; want NoJobs, nil error", st, ret, err, j3)
	}
	if s := pool.Stats(); s.Size != 2 || s.Paused != 2 || s.Idle != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	expect(t, async.Finish, 1)(pool.StartJob(bg, &j1, nil, nil, nil))
	// Retried later, it gets the job j1 returned.
	expect(t, async.Pause, 0)(pool.StartJob(bg, &j3, w3, pauser(1, 3), nil))
	expect(t, async.Finish, 2)(pool.StartJob(bg, &j2, nil, nil, nil))
	expect(t, async.Finish, 3)(pool.StartJob(bg, &j3, nil, nil, nil))
	if s := pool.Stats(); s.Size != 2 || s.Idle != 2 || s.Started != 3 {
		t.Fatalf("Stats = %+v", s)
	}
}

// "If ASYNC_init_thread() is not called before the pool is first used then
// it will be called automatically with a max_size of 0 (no upper limit) and
// an init_size of 0."
func TestZeroPool(t *testing.T) {
	var pool async.Pool
	if s := pool.Stats(); s != (async.PoolStats{}) {
		t.Fatalf("zero Pool Stats = %+v", s)
	}
	w := mustWaitCtx(t)
	jobs := make([]*async.Job, 100)
	for i := range jobs {
		expect(t, async.Pause, 0)(pool.StartJob(bg, &jobs[i], w, pauser(1, i), nil))
	}
	if s := pool.Stats(); s.Size != 100 || s.Paused != 100 {
		t.Fatalf("Stats = %+v", s)
	}
	for i := range jobs {
		expect(t, async.Finish, i)(pool.StartJob(bg, &jobs[i], nil, nil, nil))
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
}

// Item 4 of the second core audit: NewPool(0, math.MaxInt) panicked in
// makeslice. A huge maxSize is a bound, and fine; a huge initSize asks for
// more jobs than a process can hold, and is an error.
func TestNewPoolHugeSizes(t *testing.T) {
	for _, c := range [][2]int{
		{0, math.MaxInt}, {math.MaxInt, math.MaxInt}, {0, math.MaxInt / 2},
		{math.MaxInt / 2, math.MaxInt / 2}, {0, async.MaxInitSize + 1},
	} {
		var p *async.Pool
		var err error
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("NewPool(%d, %d) panicked: %v", c[0], c[1], v)
				}
			}()
			p, err = async.NewPool(c[0], c[1])
		}()
		if p != nil || !errors.Is(err, async.ErrBadSize) {
			t.Errorf("NewPool(%d, %d) = %v, %v; want ErrBadSize", c[0], c[1], p, err)
		}
	}
	p := mustPool(t, math.MaxInt, 2)
	var job *async.Job
	expect(t, async.Finish, 1)(p.StartJob(bg, &job, mustWaitCtx(t), pauser(0, 1), nil))
	if s := p.Stats(); s.Max != math.MaxInt || s.Size != 2 {
		t.Fatalf("NewPool(MaxInt, 2) Stats = %+v", s)
	}
}

func TestNewPoolErrors(t *testing.T) {
	for _, c := range [][2]int{{-1, 0}, {0, -1}, {2, 3}, {-5, -5}} {
		p, err := async.NewPool(c[0], c[1])
		if p != nil || !errors.Is(err, async.ErrBadSize) {
			t.Errorf("NewPool(%d, %d) = %v, %v; want ErrBadSize", c[0], c[1], p, err)
		}
	}
	// max 0 means no limit, so any initSize is fine (OpenSSL refuses this,
	// against its own documentation).
	p := mustPool(t, 0, 4)
	if s := p.Stats(); s.Size != 4 || s.Max != 0 {
		t.Fatalf("NewPool(0, 4) Stats = %+v", s)
	}
}

// "ASYNC_get_current_job() can be used to get a pointer to the currently
// executing ASYNC_JOB. If no job is currently executing then this will
// return NULL." ... "If executing within the context of a job (i.e. having
// been called directly or indirectly by the function func ...)"
func TestCurrentJobAtDepth(t *testing.T) {
	//lint:ignore SA1012 what a nil ctx does is under test
	if async.CurrentJob(bg) != nil || async.CurrentJob(nil) != nil {
		t.Fatal("CurrentJob outside a job is not nil")
	}
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	var inside, deep *async.Job
	var saved context.Context
	type key struct{}
	var depth func(ctx context.Context, n int) int
	depth = func(ctx context.Context, n int) int {
		if n == 0 {
			deep = async.CurrentJob(ctx)
			if err := async.PauseJob(ctx); err != nil {
				return -1
			}
			return 10
		}
		return depth(ctx, n-1)
	}
	fn := func(ctx context.Context, _ []byte) int {
		inside = async.CurrentJob(ctx)
		saved = ctx
		ctx = context.WithValue(ctx, key{}, 1)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		return depth(cctx, 20)
	}
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, fn, nil))
	if inside == nil || inside != job || deep != job {
		t.Fatalf("CurrentJob inside = %p, at depth = %p, handle = %p", inside, deep, job)
	}
	if async.CurrentJob(saved) != nil {
		t.Fatal("CurrentJob of a paused job's context is not nil")
	}
	if job.WaitCtx() != w {
		t.Fatal("WaitCtx() is not the WaitCtx given to StartJob")
	}
	expect(t, async.Finish, 10)(pool.StartJob(bg, &job, nil, nil, nil))
	if async.CurrentJob(saved) != nil {
		t.Fatal("CurrentJob of a finished job's context is not nil")
	}
}

// The job's context is a child of the ctx given to StartJob.
func TestJobContextInheritsParent(t *testing.T) {
	pool := mustPool(t, 0, 0)
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(bg, key{}, "v"))
	var job *async.Job
	fn := func(ctx context.Context, _ []byte) int {
		if ctx.Value(key{}) != "v" {
			return -1
		}
		async.PauseJob(ctx)
		if ctx.Err() != context.Canceled {
			return -2
		}
		return 1
	}
	expect(t, async.Pause, 0)(pool.StartJob(parent, &job, mustWaitCtx(t), fn, nil))
	cancel()
	expect(t, async.Finish, 1)(pool.StartJob(bg, &job, nil, nil, nil))
}

// "If ASYNC_pause_job() is called whilst not within the context of a job
// then no action is taken and ASYNC_pause_job() returns immediately."
func TestPauseOutsideJob(t *testing.T) {
	if err := async.PauseJob(bg); err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1012 what a nil ctx does is under test
	if err := async.PauseJob(nil); err != nil {
		t.Fatal(err)
	}
	async.BlockPause(bg) // "no effect" outside a job: must not panic
	async.UnblockPause(bg)
}

// "ASYNC_block_pause() will prevent the currently active job from pausing
// ... These functions can be nested ... If you call ASYNC_block_pause()
// twice then you must call ASYNC_unblock_pause() twice in order to
// re-enable pausing."
func TestBlockPauseNests(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	var steps []string
	fn := func(ctx context.Context, _ []byte) int {
		async.BlockPause(ctx)
		async.BlockPause(ctx)
		async.PauseJob(ctx) // blocked: no pause
		steps = append(steps, "blocked2")
		async.UnblockPause(ctx)
		async.PauseJob(ctx) // still blocked
		steps = append(steps, "blocked1")
		async.UnblockPause(ctx)
		async.PauseJob(ctx) // pauses
		steps = append(steps, "resumed")
		async.UnblockPause(ctx) // nothing to undo: no effect
		async.PauseJob(ctx)     // pauses
		return 1
	}
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, fn, nil))
	if got := strings.Join(steps, ","); got != "blocked2,blocked1" {
		t.Fatalf("before the first pause: %s", got)
	}
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, nil, nil, nil))
	expect(t, async.Finish, 1)(pool.StartJob(bg, &job, nil, nil, nil))
}

// The blocked-pause count belongs to the job run: a job that returns with
// pausing blocked does not block the next job run on the same pooled job.
func TestUnbalancedBlockDoesNotLeak(t *testing.T) {
	pool := mustPool(t, 1, 1)
	w := mustWaitCtx(t)
	var job *async.Job
	expect(t, async.Finish, 1)(pool.StartJob(bg, &job, w, func(ctx context.Context, _ []byte) int {
		async.BlockPause(ctx)
		return 1
	}, nil))
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, pauser(1, 2), nil))
	expect(t, async.Finish, 2)(pool.StartJob(bg, &job, nil, nil, nil))
}

func TestIsCapableAndMemFunctions(t *testing.T) {
	if !async.IsCapable() {
		t.Fatal("IsCapable() = false")
	}
	alloc := func(size *int) []byte { return make([]byte, *size) }
	if async.SetMemFunctions(alloc, func([]byte) {}) {
		t.Fatal("SetMemFunctions reported support for custom stacks")
	}
	if a, f := async.GetMemFunctions(); a != nil || f != nil {
		t.Fatal("GetMemFunctions returned functions that are never used")
	}
}

func TestStatusStrings(t *testing.T) {
	for s, want := range map[async.Status]string{async.Err: "ASYNC_ERR", async.NoJobs: "ASYNC_NO_JOBS",
		async.Pause: "ASYNC_PAUSE", async.Finish: "ASYNC_FINISH", 9: "Status(9)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s, want)
		}
	}
	for s, want := range map[async.EngineStatus]string{async.StatusUnsupported: "ASYNC_STATUS_UNSUPPORTED",
		async.StatusErr: "ASYNC_STATUS_ERR", async.StatusOK: "ASYNC_STATUS_OK",
		async.StatusEAGAIN: "ASYNC_STATUS_EAGAIN", -1: "EngineStatus(-1)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s, want)
		}
	}
	// The values equal OpenSSL's.
	if async.Err != 0 || async.NoJobs != 1 || async.Pause != 2 || async.Finish != 3 ||
		async.StatusUnsupported != 0 || async.StatusErr != 1 || async.StatusOK != 2 || async.StatusEAGAIN != 3 {
		t.Fatal("status values differ from OpenSSL's")
	}
}

func TestStartJobBadArguments(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	fn := pauser(0, 1)
	freed := async.NewWaitCtx()
	freed.Free()
	var job *async.Job
	for _, c := range []struct {
		name string
		ctx  context.Context
		job  **async.Job
		w    *async.WaitCtx
		fn   async.Func
		want error
	}{
		{"nil job", bg, nil, w, fn, async.ErrNilJob},
		{"nil ctx", nil, &job, w, fn, async.ErrNilContext},
		{"nil WaitCtx", bg, &job, nil, fn, async.ErrNilWaitCtx},
		{"nil Func", bg, &job, w, nil, async.ErrNilFunc},
		{"freed WaitCtx", bg, &job, freed, fn, async.ErrFreed},
	} {
		st, ret, err := pool.StartJob(c.ctx, c.job, c.w, c.fn, nil)
		if st != async.Err || ret != 0 || !errors.Is(err, c.want) {
			t.Errorf("%s: StartJob = %v, %d, %v; want Err, %v", c.name, st, ret, err, c.want)
		}
	}
	if s := pool.Stats(); s.Started != 0 {
		t.Fatalf("a refused start counted: %+v", s)
	}
}

func TestResumeMisuse(t *testing.T) {
	p1, p2 := mustPool(t, 0, 0), mustPool(t, 0, 0)
	w, other := mustWaitCtx(t), mustWaitCtx(t)
	var job *async.Job
	expect(t, async.Pause, 0)(p1.StartJob(bg, &job, w, pauser(1, 5), nil))
	h := job

	check := func(name string, st async.Status, _ int, err error, want error) {
		t.Helper()
		if st != async.Err || !errors.Is(err, want) {
			t.Fatalf("%s: %v, %v; want Err, %v", name, st, err, want)
		}
		if job != h {
			t.Fatalf("%s: a refused resume changed *job", name)
		}
	}
	st, ret, err := p2.StartJob(bg, &job, w, nil, nil)
	check("resume through another pool", st, ret, err, async.ErrWrongPool)
	if _, err := p2.CancelJob(&job); !errors.Is(err, async.ErrWrongPool) {
		t.Fatalf("CancelJob through another pool: %v", err)
	}
	st, ret, err = p1.StartJob(bg, &job, other, nil, nil)
	check("resume with another WaitCtx", st, ret, err, async.ErrWrongWaitCtx)

	// The refusals left the job paused and resumable.
	expect(t, async.Finish, 5)(p1.StartJob(bg, &job, w, nil, nil))

	// A stale handle: the job finished (and is idle in the pool).
	stale := h
	st, ret, err = p1.StartJob(bg, &stale, w, nil, nil)
	if st != async.Err || !errors.Is(err, async.ErrNotPaused) || stale != h {
		t.Fatalf("resume of a finished job's handle: %v, %d, %v", st, ret, err)
	}
	if _, err := p1.CancelJob(&stale); !errors.Is(err, async.ErrNotPaused) {
		t.Fatalf("CancelJob of a finished job's handle: %v", err)
	}
	if _, err := p1.CancelJob(nil); !errors.Is(err, async.ErrNilJob) {
		t.Fatalf("CancelJob(nil): %v", err)
	}
	var none *async.Job
	if _, err := p1.CancelJob(&none); !errors.Is(err, async.ErrNilJob) {
		t.Fatalf("CancelJob(&nil): %v", err)
	}
}

// A job resumed while it is running is refused, whether by its own code or
// by another goroutine, and the running job is unharmed.
func TestResumeOfRunningJob(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	var job *async.Job
	var selfSt async.Status
	var selfErr, cancelErr error
	fn := func(ctx context.Context, _ []byte) int {
		self := async.CurrentJob(ctx)
		selfSt, _, selfErr = pool.StartJob(bg, &self, nil, nil, nil)
		_, cancelErr = pool.CancelJob(&self)
		async.PauseJob(ctx)
		return 1
	}
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, fn, nil))
	if selfSt != async.Err || !errors.Is(selfErr, async.ErrRunning) || !errors.Is(cancelErr, async.ErrRunning) {
		t.Fatalf("job resuming itself: %v, %v; canceling itself: %v", selfSt, selfErr, cancelErr)
	}
	expect(t, async.Finish, 1)(pool.StartJob(bg, &job, nil, nil, nil))
}

func TestConcurrentResumeIsRefused(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	running, proceed := make(chan struct{}), make(chan struct{})
	fn := func(ctx context.Context, _ []byte) int {
		async.PauseJob(ctx)
		running <- struct{}{}
		<-proceed
		return 3
	}
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, fn, nil))
	handle := job
	done := make(chan error)
	go func() {
		st, ret, err := pool.StartJob(bg, &job, nil, nil, nil)
		if st != async.Finish || ret != 3 {
			err = errors.Join(err, errors.New("first resume did not finish the job"))
		}
		done <- err
	}()
	<-running
	st, _, err := pool.StartJob(bg, &handle, nil, nil, nil)
	if st != async.Err || !errors.Is(err, async.ErrRunning) {
		t.Errorf("second resume while running: %v, %v; want Err, ErrRunning", st, err)
	}
	close(proceed)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Many goroutines race to resume the same paused job: exactly one wins
// each round, and the others are refused while it runs.
func TestRacingResumes(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	const rounds, racers = 100, 4
	hold := make(chan struct{})
	fn := func(ctx context.Context, _ []byte) int {
		for range rounds {
			async.PauseJob(ctx)
			<-hold // running until every loser has been refused
		}
		return 1
	}
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, fn, nil))
	h := job
	for range rounds {
		results := make(chan error, racers)
		for range racers {
			go func() {
				j := h
				_, _, err := pool.StartJob(bg, &j, nil, nil, nil)
				results <- err
			}()
		}
		for range racers - 1 {
			if err := <-results; !errors.Is(err, async.ErrRunning) {
				t.Fatalf("losing resume: %v, want ErrRunning", err)
			}
		}
		hold <- struct{}{}
		if err := <-results; err != nil {
			t.Fatalf("winning resume: %v", err)
		}
	}
	// The last winner saw the job finish.
	if s := pool.Stats(); s.Paused != 0 || s.Idle != 1 {
		t.Fatalf("Stats = %+v", s)
	}
}

// A job may be resumed from any goroutine, through the pool that started it.
func TestResumeFromAnotherGoroutine(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, pauser(3, 9), nil))
	for range 2 {
		done := make(chan async.Status)
		go func() {
			st, _, _ := pool.StartJob(bg, &job, nil, nil, nil)
			done <- st
		}()
		if st := <-done; st != async.Pause {
			t.Fatalf("resume from another goroutine: %v", st)
		}
	}
	expect(t, async.Finish, 9)(pool.StartJob(bg, &job, nil, nil, nil))
}

func TestPanicIsContained(t *testing.T) {
	checkNoLeaks(t)
	pool := mustPool(t, 2, 0)
	w := mustWaitCtx(t)
	boom := errors.New("boom")
	for _, before := range []int{0, 1} { // panic at start, and after a pause
		var job *async.Job
		fn := func(ctx context.Context, _ []byte) int {
			for range before {
				async.PauseJob(ctx)
			}
			panic(boom)
		}
		st, _, err := pool.StartJob(bg, &job, w, fn, nil)
		for st == async.Pause {
			st, _, err = pool.StartJob(bg, &job, nil, nil, nil)
		}
		var pe *async.PanicError
		if st != async.Err || !errors.As(err, &pe) || pe.Value != boom || !errors.Is(err, boom) {
			t.Fatalf("panicking job: %v, %v", st, err)
		}
		if !bytes.Contains(pe.Stack, []byte("TestPanicIsContained")) {
			t.Fatalf("PanicError.Stack lacks the panicking function:\n%s", pe.Stack)
		}
		if job != nil {
			t.Fatal("*job still set after the job panicked")
		}
		if s := pool.Stats(); s.Size != 0 {
			t.Fatalf("the panicked job stayed in the pool: %+v", s)
		}
	}
	// The pool's count was corrected: both slots are usable.
	var a, b *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &a, w, pauser(1, 1), nil))
	expect(t, async.Pause, 0)(pool.StartJob(bg, &b, mustWaitCtx(t), pauser(1, 2), nil))
	expect(t, async.Finish, 1)(pool.StartJob(bg, &a, nil, nil, nil))
	expect(t, async.Finish, 2)(pool.StartJob(bg, &b, nil, nil, nil))
	if s := pool.Stats(); s.Size != 2 || s.Started != 4 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestPanicMessage(t *testing.T) {
	pool := mustPool(t, 0, 0)
	var job *async.Job
	_, _, err := pool.StartJob(bg, &job, mustWaitCtx(t), func(context.Context, []byte) int { panic("oops") }, nil)
	if err == nil || err.Error() != "async: job panicked: oops" {
		t.Fatalf("err = %v", err)
	}
	var pe *async.PanicError
	if !errors.As(err, &pe) || pe.Unwrap() != nil {
		t.Fatalf("a string panic unwraps to %v", pe.Unwrap())
	}
	_, _, err = pool.StartJob(bg, &job, mustWaitCtx(t), func(context.Context, []byte) int { panic(nil) }, nil)
	var pn *runtime.PanicNilError
	if !errors.As(err, &pn) {
		t.Fatalf("panic(nil): %v", err)
	}
}

// runtime.Goexit in a Func ends the job, not the goroutine that started
// it, and the pool does not lose the slot.
func TestGoexitIsContained(t *testing.T) {
	checkNoLeaks(t)
	pool := mustPool(t, 1, 0)
	w := mustWaitCtx(t)
	for _, before := range []int{0, 1} {
		var job *async.Job
		fn := func(ctx context.Context, _ []byte) int {
			for range before {
				async.PauseJob(ctx)
			}
			runtime.Goexit()
			return 0
		}
		st, _, err := pool.StartJob(bg, &job, w, fn, nil)
		for st == async.Pause {
			st, _, err = pool.StartJob(bg, &job, nil, nil, nil)
		}
		var pe *async.PanicError
		if st != async.Err || !errors.As(err, &pe) || !errors.Is(err, async.ErrGoexit) || job != nil {
			t.Fatalf("Goexit job: %v, %v", st, err)
		}
		if err.Error() != async.ErrGoexit.Error() {
			t.Fatalf("Goexit message: %q", err)
		}
	}
	var job *async.Job
	expect(t, async.Finish, 1)(pool.StartJob(bg, &job, w, pauser(0, 1), nil))
}

// Jobs nest: a Func may start jobs of its own, on any pool; pausing the
// inner job returns to the outer job's code.
func TestNestedJobs(t *testing.T) {
	checkNoLeaks(t)
	outerPool := mustPool(t, 0, 0)
	innerPool := mustPool(t, 0, 0)
	var trace []string
	inner := func(ctx context.Context, _ []byte) int {
		if async.CurrentJob(ctx) == nil {
			return -1
		}
		trace = append(trace, "inner-1")
		async.PauseJob(ctx)
		trace = append(trace, "inner-2")
		return 2
	}
	outer := func(ctx context.Context, _ []byte) int {
		me := async.CurrentJob(ctx)
		w := async.NewWaitCtx()
		defer w.Free()
		sum := 0
		for _, pool := range []*async.Pool{innerPool, outerPool} {
			var ij *async.Job
			st, _, _ := pool.StartJob(ctx, &ij, w, inner, nil)
			if st != async.Pause || async.CurrentJob(ctx) != me {
				return -1
			}
			trace = append(trace, "outer-sees-inner-paused")
			async.PauseJob(ctx) // the outer job pauses with the inner one paused
			st, ret, _ := pool.StartJob(ctx, &ij, nil, nil, nil)
			if st != async.Finish {
				return -2
			}
			sum += ret
		}
		return sum
	}
	var job *async.Job
	w := mustWaitCtx(t)
	expect(t, async.Pause, 0)(outerPool.StartJob(bg, &job, w, outer, nil))
	expect(t, async.Pause, 0)(outerPool.StartJob(bg, &job, nil, nil, nil))
	expect(t, async.Finish, 4)(outerPool.StartJob(bg, &job, nil, nil, nil))
	want := "inner-1,outer-sees-inner-paused,inner-2,inner-1,outer-sees-inner-paused,inner-2"
	if got := strings.Join(trace, ","); got != want {
		t.Fatalf("trace %s\nwant  %s", got, want)
	}
}

func TestCancelJob(t *testing.T) {
	checkNoLeaks(t)
	pool := mustPool(t, 1, 0)
	w := mustWaitCtx(t)
	var errs []error
	fn := func(ctx context.Context, _ []byte) int {
		errs = append(errs, async.PauseJob(ctx))
		errs = append(errs, async.PauseJob(ctx)) // at once, no pause
		async.BlockPause(ctx)
		errs = append(errs, async.PauseJob(ctx)) // blocked: nothing happens
		async.UnblockPause(ctx)
		return 8
	}
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, fn, nil))
	ret, err := pool.CancelJob(&job)
	if ret != 8 || err != nil || job != nil {
		t.Fatalf("CancelJob = %d, %v, job %p", ret, err, job)
	}
	if len(errs) != 3 || errs[0] != async.ErrCanceled || errs[1] != async.ErrCanceled || errs[2] != nil {
		t.Fatalf("PauseJob results in a canceled job: %v", errs)
	}
	if s := pool.Stats(); s.Idle != 1 || s.Paused != 0 {
		t.Fatalf("the canceled job did not go back to the pool: %+v", s)
	}
	// The job is reused, uncanceled.
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, pauser(1, 4), nil))
	expect(t, async.Finish, 4)(pool.StartJob(bg, &job, nil, nil, nil))
}

func TestCancelJobThatPanics(t *testing.T) {
	pool := mustPool(t, 0, 0)
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, mustWaitCtx(t), func(ctx context.Context, _ []byte) int {
		if async.PauseJob(ctx) != nil {
			panic("unwinding")
		}
		return 0
	}, nil))
	_, err := pool.CancelJob(&job)
	var pe *async.PanicError
	if !errors.As(err, &pe) || pe.Value != "unwinding" || job != nil {
		t.Fatalf("CancelJob of a job that panics: %v", err)
	}
	if s := pool.Stats(); s.Size != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestCloseUnwindsPausedJobs(t *testing.T) {
	checkNoLeaks(t)
	pool, err := async.NewPool(0, 2)
	if err != nil {
		t.Fatal(err)
	}
	w := mustWaitCtx(t)
	var got []error
	fn := func(ctx context.Context, _ []byte) int {
		err := async.PauseJob(ctx)
		got = append(got, err, async.PauseJob(ctx))
		return 0
	}
	jobs := make([]*async.Job, 3)
	for i := range jobs {
		expect(t, async.Pause, 0)(pool.StartJob(bg, &jobs[i], w, fn, nil))
	}
	var idle *async.Job
	expect(t, async.Finish, 1)(pool.StartJob(bg, &idle, w, pauser(0, 1), nil))
	err = pool.Close()
	if !errors.Is(err, async.ErrJobsOutstanding) || !strings.Contains(err.Error(), "3 paused jobs") {
		t.Fatalf("Close = %v; want 3 jobs outstanding", err)
	}
	if len(got) != 6 {
		t.Fatalf("%d PauseJob results, want 6", len(got))
	}
	for _, e := range got {
		if e != async.ErrClosed {
			t.Fatalf("PauseJob in a closed pool returned %v", e)
		}
	}
	if s := pool.Stats(); s.Size != 0 || s.Paused != 0 || s.Started != 4 {
		t.Fatalf("after Close: %+v", s)
	}
	// Old handles, new jobs and a second Close.
	st, _, err := pool.StartJob(bg, &jobs[0], nil, nil, nil)
	if st != async.Err || !errors.Is(err, async.ErrClosed) {
		t.Fatalf("resume after Close: %v, %v", st, err)
	}
	if _, err := pool.CancelJob(&jobs[1]); !errors.Is(err, async.ErrClosed) {
		t.Fatalf("CancelJob after Close: %v", err)
	}
	var job *async.Job
	st, _, err = pool.StartJob(bg, &job, w, fn, nil)
	if st != async.Err || !errors.Is(err, async.ErrClosed) {
		t.Fatalf("start after Close: %v, %v", st, err)
	}
	if err := pool.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A job running while its pool is closed is unwound when it pauses.
func TestCloseWhileRunning(t *testing.T) {
	checkNoLeaks(t)
	pool, _ := async.NewPool(0, 0)
	w := mustWaitCtx(t)
	var pauseErr error
	var closeErr error
	fn := func(ctx context.Context, _ []byte) int {
		closeErr = pool.Close() // from inside its own job
		pauseErr = async.PauseJob(ctx)
		return 5
	}
	var job *async.Job
	st, _, err := pool.StartJob(bg, &job, w, fn, nil)
	if st != async.Err || !errors.Is(err, async.ErrClosed) || job != nil {
		t.Fatalf("job paused in a closed pool: %v, %v", st, err)
	}
	if closeErr != nil || pauseErr != async.ErrClosed {
		t.Fatalf("Close = %v, PauseJob = %v", closeErr, pauseErr)
	}
	if s := pool.Stats(); s.Size != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	// A job that finishes in a closed pool is not kept either.
	pool2, _ := async.NewPool(0, 0)
	expect(t, async.Finish, 0)(pool2.StartJob(bg, &job, w, func(context.Context, []byte) int {
		pool2.Close()
		return 0
	}, nil))
	if s := pool2.Stats(); s.Size != 0 || s.Idle != 0 {
		t.Fatalf("Stats = %+v", s)
	}
}

func TestResumeWithFreedWaitCtx(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := async.NewWaitCtx()
	var job *async.Job
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, pauser(1, 1), nil))
	w.Free()
	st, _, err := pool.StartJob(bg, &job, nil, nil, nil)
	if st != async.Err || !errors.Is(err, async.ErrFreed) || job == nil {
		t.Fatalf("resume with a freed WaitCtx: %v, %v", st, err)
	}
	if ret, err := pool.CancelJob(&job); err != nil || ret != -1 {
		t.Fatalf("CancelJob = %d, %v", ret, err)
	}
}
