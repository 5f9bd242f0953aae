package async

import (
	"context"
	"reflect"
	"sync/atomic"
	"time"
)

// jobKey is the context key under which a job's context carries the job.
type jobKey struct{}

// jobContext is the context a job's Func receives: its parent is the ctx
// given to StartJob. Each job embeds one and reuses it, so starting a job
// allocates nothing.
//
// Other goroutines may read the parent after the run that set it: the
// context package's own, for one, when the timer of a context derived in
// the run fires as the run ends and unhooks itself from its parent. So
// the parent is held in a parentCtx that is never changed once made, and
// swapped atomically: a reader sees one run's parent or the next's, never
// half of each. A job started again with the same ctx keeps its parentCtx
// and stores nothing.
type jobContext struct {
	parent atomic.Pointer[parentCtx]
	job    *Job
}

// parentCtx is a run's parent context; see jobContext.
type parentCtx struct {
	ctx context.Context
	// typ is ctx's type; ptr says it is a pointer and zero that it has
	// no size: what it takes to know ctx again cheaply (see same).
	typ       reflect.Type
	ptr, zero bool
}

func newParent(ctx context.Context) *parentCtx {
	t := reflect.TypeOf(ctx)
	return &parentCtx{ctx: ctx, typ: t, ptr: t.Kind() == reflect.Pointer, zero: t.Size() == 0}
}

// noParent is a new job's parent, until its first run.
var noParent = newParent(context.Background())

// same reports whether ctx is the very context p holds: the same pointer,
// or a value of the same zero-size type (context.Background's). Other
// values count as different even when equal, since comparing them may
// panic (a struct holding a slice, or a context wrapping one).
func (p *parentCtx) same(ctx context.Context) bool {
	return reflect.TypeOf(ctx) == p.typ && (p.zero || p.ptr && p.ctx == ctx)
}

// setParent makes ctx the parent; only the job's owner calls it, and
// only when ctx is not the parent already. StartJob makes that check
// itself rather than call a helper that would, so that begin stays small
// enough to inline.
func (c *jobContext) setParent(ctx context.Context) {
	c.parent.Store(newParent(ctx))
}

func (c *jobContext) Deadline() (time.Time, bool) { return c.parent.Load().ctx.Deadline() }
func (c *jobContext) Done() <-chan struct{}       { return c.parent.Load().ctx.Done() }
func (c *jobContext) Err() error                  { return c.parent.Load().ctx.Err() }

func (c *jobContext) Value(key any) any {
	if key == (jobKey{}) {
		return c.job
	}
	return c.parent.Load().ctx.Value(key)
}

func (c *jobContext) String() string { return "async.Job context" }

// jobOf returns the job ctx carries, running or not. It inlines: the
// usual ctx is the one the Func received, found without a Value lookup.
func jobOf(ctx context.Context) *Job {
	if c, ok := ctx.(*jobContext); ok {
		return c.job
	}
	return jobOfValue(ctx)
}

//go:noinline
func jobOfValue(ctx context.Context) *Job {
	if ctx == nil {
		return nil
	}
	j, _ := ctx.Value(jobKey{}).(*Job)
	return j
}

// CurrentJob is ASYNC_get_current_job: the job that ctx belongs to while
// that job is running, else nil. ctx is the context the job's Func
// received, or one derived from it; in nested jobs it is the innermost job
// whose context ctx derives from.
func CurrentJob(ctx context.Context) *Job {
	if j := jobOf(ctx); j != nil && j.active {
		return j
	}
	return nil
}

// PauseJob is ASYNC_pause_job. Inside a running job whose pausing is not
// blocked, it returns control to the StartJob call that started or resumed
// the job, which reports Pause; it returns when the job is resumed.
// Outside any job, or while pausing is blocked, it does nothing and
// returns nil.
//
// It returns ErrCanceled when the job was canceled with CancelJob, and
// ErrClosed when the job's pool was closed, while the job was paused; from
// then on every PauseJob in the job returns that error at once, and the
// Func should unwind and return.
//
// Call it only from the job's own Func, on the goroutine that runs it, with
// the ctx the Func received or one derived from it.
func PauseJob(ctx context.Context) error {
	// PauseJob is small enough to inline (TestHotPathsInline checks), so
	// the switch leaves from and returns to the caller's frame: each frame
	// a switch crosses costs a mispredicted return, about 7 ns. The
	// inliner charges 57 for a call but 17 for a call through a parameter,
	// hence the two helpers.
	if c, ok := ctx.(*jobContext); ok && c.job.pausable {
		switchOut(c.job.yield)
		return c.job.wake
	}
	return callWith(pauseSlow, ctx)
}

// switchOut calls yield, which switches out of the job's coroutine. yield
// reports false only when the coroutine is stopped, which the pool never
// does to a paused job: it resumes it with wake set instead.
func switchOut(yield func(struct{}) bool) { yield(struct{}{}) }

// callWith calls f(ctx).
func callWith(f func(context.Context) error, ctx context.Context) error { return f(ctx) }

// pauseSlow is PauseJob for a ctx derived from the job's, and for every
// case where PauseJob does not pause.
func pauseSlow(ctx context.Context) error {
	j := jobOf(ctx)
	if j == nil || !j.active || j.blocked > 0 {
		return nil
	}
	if j.wake != nil {
		return j.wake
	}
	switchOut(j.yield)
	return j.wake
}

// BlockPause is ASYNC_block_pause: it stops the current job from pausing,
// until a matching UnblockPause; calls nest. Use it around code that holds
// a lock the code resuming the job may also take. Outside a job it does
// nothing. The count belongs to the job run, so one left unbalanced does
// not reach later jobs.
func BlockPause(ctx context.Context) {
	if j := CurrentJob(ctx); j != nil {
		j.blocked++
		j.pausable = false
	}
}

// UnblockPause is ASYNC_unblock_pause: it undoes one BlockPause. Outside a
// job, or with no BlockPause to undo, it does nothing.
func UnblockPause(ctx context.Context) {
	if j := CurrentJob(ctx); j != nil && j.blocked > 0 {
		j.blocked--
		j.pausable = j.blocked == 0 && j.wake == nil
	}
}
