package async

import (
	"context"
	"iter"
	"runtime/debug"
	"sync/atomic"
)

// Job is a handle to a started job (ASYNC_JOB). A job runs its Func on a
// coroutine of its own, which the pool keeps and reuses for later jobs.
type Job struct {
	pool *Pool // immutable
	// word packs the job's state (low bits) and the number of times it was
	// started (high bits). It is the one field other goroutines may read
	// while someone else owns the job: resuming claims a paused job, and
	// starting claims the pool's idle last job, by a compare-and-swap of
	// its state. A start and a finish cost that and one atomic store; so do
	// a pause and a resume.
	word  atomic.Uint64
	index int // position in pool.all; guarded by pool.mu

	next  func() (struct{}, bool) // switches into the coroutine
	stop  func()                  // ends the coroutine
	yield func(struct{}) bool     // switches out of it; used on the coroutine only

	// Written by the goroutine that starts or resumes the job, read by the
	// job's own code: the coroutine switch orders the two.
	ctx    jobContext
	fn     Func
	args   []byte // the job's copy of StartJob's args: nil or argBuf[:n]
	argBuf []byte
	wctx   *WaitCtx
	wake   error // what PauseJob returns once resumed: nil, ErrCanceled, ErrClosed
	// active is true while the Func runs (not paused, not finished). Only
	// the job's own code reads it, through CurrentJob, so it needs no atomic:
	// the owner sets it before switching in and clears it after switching
	// back.
	active bool
	// pausable is true while active and PauseJob would pause: not blocked,
	// not resumed to unwind. It lets PauseJob decide with one load.
	pausable bool

	// Written by the job's own code, read by the goroutine it switches back to.
	blocked  int // BlockPause depth
	ret      int
	finished bool
	panicked *PanicError
	goexit   bool // the Func called runtime.Goexit, which is still under way
}

const (
	stateLive   = iota // running, or held by one owner: not claimable
	statePaused        // paused in PauseJob; *job holds it
	stateIdle          // finished and free to take: the pool's last job
	stateDead          // discarded: no longer in any pool
	stateBits   = 2
	stateMask   = 1<<stateBits - 1
)

// WaitCtx is ASYNC_get_wait_ctx: the WaitCtx given to StartJob when the job
// started. Async-aware code calls it on CurrentJob(ctx).
func (j *Job) WaitCtx() *WaitCtx {
	if j == nil {
		return nil
	}
	return j.wctx
}

func newJob(p *Pool) *Job {
	j := &Job{pool: p}
	j.ctx.job = j
	j.next, j.stop = iter.Pull(j.loop)
	return j
}

// setState is for the goroutine that owns the job (it claimed it, or holds
// it idle), so no other goroutine changes word meanwhile.
func (j *Job) setState(s uint64) { j.word.Store(j.word.Load()&^stateMask | s) }

// take makes the caller the owner of j if j is in state from, and reports
// whether it did.
func (j *Job) take(from uint64) bool {
	w := j.word.Load()
	return w&stateMask == from && j.word.CompareAndSwap(w, w&^stateMask|stateLive)
}

// takeForRun is take(stateIdle) that also counts the run about to start.
func (j *Job) takeForRun() bool {
	w := j.word.Load()
	return w&stateMask == stateIdle && j.word.CompareAndSwap(w, (w>>stateBits+1)<<stateBits|stateLive)
}

// countRun counts the run about to start of a job the caller owns.
func (j *Job) countRun() { j.word.Store((j.word.Load()>>stateBits + 1) << stateBits) }

// begin readies an idle job to run fn; the caller owns the job.
func (j *Job) begin(ctx context.Context, wctx *WaitCtx, fn Func, args []byte) {
	j.ctx.Context = ctx
	j.fn = fn
	j.wctx = wctx
	j.args = nil
	if args != nil {
		j.argBuf = append(j.argBuf[:0], args...)
		j.args = j.argBuf
	}
	j.blocked = 0
	j.wake = nil
	j.finished = false
	j.active = true
	j.pausable = true
}

// reset drops what the finished run referenced, so an idle job pins nothing.
func (j *Job) reset() {
	j.ctx.Context = context.Background()
	j.fn = nil
	j.wctx = nil
	j.args = nil
	j.wake = nil
}

// loop is the coroutine's body: one pass per job run, parked in yield
// between runs. It calls the Func directly, with no frame in between, for
// the same reason StartJob switches directly (see there).
func (j *Job) loop(yield func(struct{}) bool) {
	j.yield = yield
	stopped := false
	defer func() {
		if stopped {
			return
		}
		v := recover()
		if v == nil {
			// Nothing to recover and no return: runtime.Goexit, which cannot
			// be stopped. Hand control back now; end() lets it finish on a
			// goroutine of its own, so the caller is not the one to exit.
			v = ErrGoexit
			j.goexit = true
		}
		j.panicked = &PanicError{Value: v, Stack: debug.Stack()}
		if j.goexit {
			j.yield(struct{}{})
		}
	}()
	for {
		j.ret = j.fn(&j.ctx, j.args)
		j.finished = true
		if !yield(struct{}{}) {
			stopped = true
			return
		}
	}
}

// end stops the job's coroutine; the job is no longer in its pool.
func (j *Job) end() {
	if j.goexit {
		// Let the Goexit finish: it ends the coroutine and then whichever
		// goroutine switched into it last, which must not be the caller.
		done := make(chan struct{})
		go func() {
			defer close(done)
			j.stop()
		}()
		<-done
	} else {
		j.stop()
	}
	j.reset()
}
