package async

import (
	"context"
	"reflect"
	"time"
)

// jobKey is the context key under which a job's context carries the job.
type jobKey struct{}

// jobContext is the context a job's Func receives: its parent is the ctx
// given to StartJob, and it carries the job.
//
// It is a value others may keep after the run: the context package's own
// goroutine, for one, which waits on Done of a context derived in the run
// and then reads Err, or a context.AfterFunc registered on it. So it never
// changes once made: it answers for the parent it was made with, for
// good. A job starting again with the same parent (the usual case: a
// server's base context, a loop's) runs with the same jobContext, which is
// exactly as right for the new run as for the old one, and allocates
// nothing; only a run with another parent gets a new one.
type jobContext struct {
	parent context.Context
	job    *Job
	// typ is parent's type; ptr says it is a pointer and zero that it has
	// no size: what it takes to know parent again cheaply (see same).
	typ       reflect.Type
	ptr, zero bool
}

func (c *jobContext) init(j *Job, parent context.Context) {
	t := reflect.TypeOf(parent)
	*c = jobContext{parent: parent, job: j, typ: t, ptr: t.Kind() == reflect.Pointer, zero: t.Size() == 0}
}

// same reports whether ctx is the very context c's parent is: the same
// pointer, or a value of the same zero-size type (context.Background's).
// Other values count as different even when equal, since comparing them
// may panic (a struct holding a slice, or a context wrapping one).
func (c *jobContext) same(ctx context.Context) bool {
	return reflect.TypeOf(ctx) == c.typ && (c.zero || c.ptr && c.parent == ctx)
}

// setParent gives j a new context, under ctx; only the job's owner calls
// it, and only when ctx is not the parent already. StartJob makes that
// check itself rather than call a helper that would, so that begin stays
// small enough to inline. The old context is left as it was, for whoever
// keeps it.
func (j *Job) setParent(ctx context.Context) {
	c := new(jobContext)
	c.init(j, ctx)
	j.ctx = c
}

func (c *jobContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *jobContext) Done() <-chan struct{}       { return c.parent.Done() }
func (c *jobContext) Err() error                  { return c.parent.Err() }

func (c *jobContext) Value(key any) any {
	if key == (jobKey{}) {
		return c.job
	}
	return c.parent.Value(key)
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
