package async_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
)

// chanCtx is a context with a Done channel of its own, not one of the
// context package's: a context derived from it (or from a context that
// forwards to it) is canceled by a goroutine of the context package that
// waits on Done and then reads Err.
type chanCtx struct {
	context.Context
	done chan struct{}
	once sync.Once
	// doneCalls counts the calls of Done: the context package's goroutine
	// that waits for it is the third, after two by context.WithCancel.
	doneCalls atomic.Int32
}

func newChanCtx() *chanCtx { return &chanCtx{Context: context.Background(), done: make(chan struct{})} }

func (c *chanCtx) Done() <-chan struct{} {
	c.doneCalls.Add(1)
	return c.done
}

func (c *chanCtx) cancel() { c.once.Do(func() { close(c.done) }) }

func (c *chanCtx) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// keepRunCtx returns a Func that stores the ctx it receives in *dst.
func keepRunCtx(dst *context.Context) async.Func {
	return func(ctx context.Context, _ []byte) int {
		*dst = ctx
		return 0
	}
}

const runCtxChildEnv = "ASYNC_TEST_RUNCTX_CHILD"

// Item 2 of the second core audit: a context derived in a run from a
// parent with a Done channel of its own, canceled after the job was reused
// with another parent, made the context package's goroutine read the next
// run's Err (nil) and crash the process with "context: internal error:
// missing cancel error". It crashes, so it runs in a child process.
func TestRunContextChildOfCustomParent(t *testing.T) {
	if os.Getenv(runCtxChildEnv) == "1" {
		runContextChildOfCustomParent(t)
		return
	}
	if testing.Short() {
		t.Skip("skipped in -short mode: it runs the test binary again")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skipf("skipped: cannot find the test binary to run again: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestRunContextChildOfCustomParent$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), runCtxChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestRunContextChildOfCustomParent") {
		t.Fatalf("child process: %v\n%s", err, out)
	}
}

func runContextChildOfCustomParent(t *testing.T) {
	pool := mustPool(t, 1, 0) // one job: the second run reuses the first's
	w := mustWaitCtx(t)
	parent := newChanCtx()
	defer parent.cancel()
	var runCtx, child context.Context
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	derive := func(ctx context.Context, _ []byte) int {
		runCtx = ctx
		c, cancel := context.WithCancel(ctx)
		child = c
		cancels = append(cancels, cancel)
		// Let the context package's goroutine start waiting on the
		// parent's Done while this run's parent is still parent.
		for deadline := time.Now().Add(5 * time.Second); parent.doneCalls.Load() < 3 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		return 0
	}
	var job *async.Job
	expect(t, async.Finish, 0)(pool.StartJob(parent, &job, w, derive, nil))
	// The job runs again, with another parent, and stays paused.
	expect(t, async.Pause, 0)(pool.StartJob(bg, &job, w, pauser(1, 0), nil))
	defer pool.CancelJob(&job)
	parent.cancel()
	select {
	case <-child.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the child of the first run was not canceled with its parent")
	}
	if err := child.Err(); err != context.Canceled {
		t.Errorf("child.Err() = %v; want context.Canceled", err)
	}
	if err := runCtx.Err(); err != context.Canceled {
		t.Errorf("the first run's ctx: Err() = %v after its parent was canceled; want context.Canceled", err)
	}
}

// Item 2 of the second core audit, the milder cases: the ctx a run
// received, kept past the run, answered for whatever parent the job's
// next run had: Done, Err, Value and Cause, and so the contexts derived
// from it, and context.AfterFunc.
func TestRunContextOutlivesRun(t *testing.T) {
	checkNoLeaks(t)
	pool := mustPool(t, 1, 0)
	w := mustWaitCtx(t)
	type key struct{}
	cause := errors.New("the first parent's cause")
	parent1, cancel1 := context.WithCancelCause(context.WithValue(bg, key{}, "first"))
	parent2, cancel2 := context.WithCancelCause(context.WithValue(bg, key{}, "second"))
	defer cancel2(nil)

	var runCtx context.Context
	var job *async.Job
	expect(t, async.Finish, 0)(pool.StartJob(parent1, &job, w, keepRunCtx(&runCtx), nil))
	expect(t, async.Pause, 0)(pool.StartJob(parent2, &job, w, pauser(1, 0), nil))
	defer pool.CancelJob(&job)

	// AfterFunc registered on the old run's ctx after the job was reused.
	called := make(chan struct{})
	stop := context.AfterFunc(runCtx, func() { close(called) })
	defer stop()
	if runCtx.Done() != parent1.Done() {
		t.Error("the first run's ctx has another Done channel than its parent's")
	}
	if v := runCtx.Value(key{}); v != "first" {
		t.Errorf("the first run's ctx: Value = %v; want its own parent's, first", v)
	}
	cancel1(cause)
	if err := runCtx.Err(); err != context.Canceled {
		t.Errorf("the first run's ctx: Err() = %v; want context.Canceled", err)
	}
	if got := context.Cause(runCtx); got != cause {
		t.Errorf("the first run's ctx: Cause = %v; want %v", got, cause)
	}
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("context.AfterFunc on the first run's ctx never ran")
	}
	// And the running job's ctx still answers for its own parent.
	var now context.Context
	probe := func(ctx context.Context, _ []byte) int {
		now = ctx
		return 0
	}
	expect(t, async.Finish, 0)(pool.StartJob(nil, &job, nil, nil, nil)) // the paused pauser finishes
	expect(t, async.Finish, 0)(pool.StartJob(parent2, &job, w, probe, nil))
	if now.Err() != nil || now.Value(key{}) != "second" {
		t.Errorf("a run with the second parent: Err %v, Value %v", now.Err(), now.Value(key{}))
	}
}

// Item 2 of the second core audit: keeping the run's ctx correct costs no
// allocation when the job starts again with the same parent, whatever the
// Func derives from it.
func TestRunContextSameParentDoesNotAllocate(t *testing.T) {
	pool := mustPool(t, 0, 0)
	w := mustWaitCtx(t)
	parent, cancel := context.WithCancel(bg)
	defer cancel()
	var kept context.Context
	derive := func(ctx context.Context, _ []byte) int {
		kept = ctx
		return 0
	}
	var job *async.Job
	run := func() { pool.StartJob(parent, &job, w, derive, nil) }
	run()
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Errorf("start and finish with the same parent: %v allocations; want 0", allocs)
	}
	_ = kept
}
