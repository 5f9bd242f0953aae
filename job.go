package async

import (
	"context"
	"iter"
	"runtime/debug"
	"sync/atomic"
)

// Job is a handle to a started job (ASYNC_JOB). A job runs its Func on a
// coroutine of its own, which the pool keeps and reuses for later jobs.
//
// A handle is valid only while its job is paused: once StartJob has
// reported Finish (or Err with a *PanicError), or CancelJob has returned,
// the Job may already be running someone else's next job. StartJob sets
// *job to nil then, so a program that keeps only the pointer it passed
// cannot go wrong; a copy kept elsewhere is as stale as an ASYNC_JOB
// pointer kept in C after ASYNC_FINISH, and resuming through it resumes
// whatever job reuses the Job.
type Job struct {
	pool *Pool // immutable
	// word packs the job's state (its low stateBits bits; see jobState)
	// and the number of times it was started (the rest). It is the one
	// field other goroutines may read while someone else owns the job.
	word  atomic.Uint64
	index int // position in pool.all; guarded by pool.mu

	next  func() (struct{}, bool) // switches into the coroutine
	stop  func()                  // ends the coroutine
	yield func(struct{}) bool     // switches out of it; used on the coroutine only

	// Written by the goroutine that owns the job (see jobState) before it
	// switches in, read by the job's own code: the coroutine switch orders
	// the two.
	ctx    *jobContext // the run's; see jobContext
	fn     Func
	args   []byte // the job's copy of StartJob's args: nil or argBuf[:n:n]
	argBuf []byte // reused for args up to maxKeptArgs; all zero while idle
	wctx   *WaitCtx
	wake   error // what PauseJob returns once resumed: nil, ErrCanceled, ErrClosed
	// active is true while the Func runs (not paused, not finished). Only
	// the job's own code reads it, through CurrentJob, so it needs no atomic:
	// the owner sets it before switching in and clears it after switching
	// back.
	active bool
	// pausable is active && blocked == 0 && wake == nil, kept so that
	// PauseJob decides with one load and stays small enough to inline.
	// Whoever changes one of the three updates it.
	pausable bool

	// Written by the job's own code, read by the goroutine it switches back to.
	blocked  int // BlockPause depth
	ret      int
	finished bool
	panicked *PanicError
	goexit   bool // the Func called runtime.Goexit, which is still under way

	// bgCtx is the job's context under context.Background, made with the
	// job: runs under Background allocate none, and a discarded job goes
	// back to it to let go of its last run's parent.
	bgCtx jobContext
}

// jobState is the state in the low bits of Job.word. Ownership of a job
// moves only through its state: whoever moves it into stateLive owns
// everything in the Job but word (the coroutine, the run's fields, the
// right to switch in), and gives that up only by moving it out again.
// Other goroutines read the state but change it only by a compare-and-swap
// from a claimable state, so at most one of them wins a job, as with
// sync.Pool's poolDequeue, where a slot belongs to whoever swapped it.
//
//	from    to      by                                  why no one else can
//	------  ------  ----------------------------------  ------------------------------------------
//	Live    Paused  the owner, after the Func paused    only the owner switched in, so only it
//	                (StartJob, handBack)                sees the switch come back
//	Paused  Live    StartJob (resume), CancelJob, Close  compare-and-swap: one claimant wins, the
//	                                                    others see Live and get ErrRunning or skip
//	Live    Idle    the owner, in put, when the job is  owner; becomes the pool's last job, free
//	                or becomes Pool.last                 for one compare-and-swap to take
//	Idle    Live    StartJob (get), rescue, Close       compare-and-swap, as from Paused
//	Live    Listed  the owner, in putLocked, under mu   owner; from then on the idle list owns it
//	Listed  Live    takeLocked, under mu                only code holding mu touches the list
//	Live    Dead    the owner, in discard, under mu     owner; a Dead job is in no pool and its
//	Listed  Dead    Close, which took the whole list    coroutine has ended: it never moves again
//
// A job's first state is Live (owned by NewPool or StartJob that made it).
// After a switch back from the Func the owner decides: Paused if the Func
// paused, Idle or Listed if it finished, Dead if it panicked or its pool
// is closed.
//
// Close publishes closed and then looks at every job's state; an owner
// that moves a job to Paused or Idle publishes the state and then looks at
// closed. Both are sequentially consistent atomics, so at least one of the
// two sees the other, and a closed pool is never left holding a paused or
// idle job (see handBack and put).
type jobState uint64

const (
	stateLive   jobState = iota // owned by one goroutine: running, starting, unwinding
	statePaused                 // paused in PauseJob; claimable by whoever holds *job
	stateIdle                   // finished; the pool's last job, claimable by a start
	stateListed                 // finished; in the pool's idle list, owned by the list
	stateDead                   // discarded: in no pool, its coroutine ended
	stateBits   = 3
	stateMask   = 1<<stateBits - 1
)

// runs is the number of times a word says the job was started.
func runs(w uint64) uint64 { return w >> stateBits }

// state returns the job's state. Only the owner may rely on it staying so.
func (j *Job) state() jobState { return jobState(j.word.Load() & stateMask) }

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
	j.bgCtx.init(j, context.Background())
	j.ctx = &j.bgCtx
	j.next, j.stop = iter.Pull(j.loop)
	return j
}

// setState is for the owner, who moves the job out of stateLive (or, with
// mu held, between the list and Dead), so no other goroutine changes word
// meanwhile.
func (j *Job) setState(s jobState) {
	j.word.Store(j.word.Load()&^stateMask | uint64(s))
}

// take makes the caller the owner of j if j is in state from (Paused or
// Idle), and reports whether it did.
func (j *Job) take(from jobState) bool {
	w := j.word.Load()
	return jobState(w&stateMask) == from && j.word.CompareAndSwap(w, w&^stateMask|uint64(stateLive))
}

// takeForRun is take(stateIdle) that also counts the run about to start.
func (j *Job) takeForRun() bool {
	w := j.word.Load()
	return jobState(w&stateMask) == stateIdle && j.word.CompareAndSwap(w, (runs(w)+1)<<stateBits|uint64(stateLive))
}

// countRun counts the run about to start of a job the caller takes from
// the idle list (or made), leaving it Live.
func (j *Job) countRun() { j.word.Store((runs(j.word.Load()) + 1) << stateBits) }

// maxKeptArgs is the largest args buffer an idle job keeps for reuse.
// Starting a job with args up to this size allocates nothing once the job
// has run with such args before; a larger buffer is allocated for its run
// and dropped when the run ends, so that an idle job does not pin it.
const maxKeptArgs = 1 << 10

// begin readies an idle job to run fn; the caller owns the job and has
// given it a context under ctx.
func (j *Job) begin(wctx *WaitCtx, fn Func, args []byte) {
	j.fn = fn
	j.wctx = wctx
	j.args = nil
	if args != nil {
		// No spare capacity goes with it: a Func that appends to its args
		// gets a slice of its own, and writes nothing past n into argBuf,
		// which reset wipes up to n only.
		j.argBuf = append(j.argBuf[:0], args...)
		j.args = j.argBuf[:len(args):len(args)]
	}
	j.blocked = 0
	j.wake = nil
	j.finished = false
	j.active = true
	j.pausable = true
}

// reset drops what the finished run referenced: its Func and WaitCtx,
// and its args, which are often secrets (a key, a plaintext). The args
// are wiped; a buffer larger than maxKeptArgs is let go. The run's
// context stays until a run with another parent, or the job's end (see
// jobContext).
func (j *Job) reset() {
	j.fn = nil
	j.wctx = nil
	clear(j.args) // all of argBuf that was written: the rest is zero already
	j.args = nil
	if cap(j.argBuf) > maxKeptArgs {
		j.argBuf = nil
	}
	j.wake = nil
}

// loop is the coroutine's body: run, and the Goexit that run cannot see.
//
// A Func's runtime.Goexit cannot be stopped, and it must not reach the
// goroutine that switched in: iter.Pull passes a coroutine's Goexit on to
// whoever called next. run's deferred call cannot tell a Goexit that a
// panic interrupted from a plain panic: both reach it as a panic, which it
// recovers, and the runtime then goes on with the Goexit. So the Goexit is
// told by where it goes: after a plain panic run returns here, and after a
// Goexit it does not, leaving loop's deferred call to switch back out
// before the Goexit ends the coroutine; end() lets it finish on a
// goroutine of its own, so that the caller is not the one to exit.
func (j *Job) loop(yield func(struct{}) bool) {
	j.yield = yield
	goexit := true
	defer func() {
		if goexit {
			j.goexit = true // and run's deferred call set panicked
			j.yield(struct{}{})
		}
	}()
	j.run(yield)
	goexit = false
}

// run is the loop of job runs: one pass per run, parked in yield between
// runs. It calls the Func directly, with no frame in between, for the same
// reason StartJob switches directly (see there); the frame of loop below
// it is crossed only when the coroutine starts and ends. It returns when
// the coroutine is stopped or the Func panicked; a Goexit goes on past it
// (see loop).
//
//go:noinline
func (j *Job) run(yield func(struct{}) bool) {
	stopped := false
	defer func() {
		if stopped {
			return
		}
		v := recover()
		if v == nil {
			// Nothing to recover and no return: runtime.Goexit. A panic
			// during a Goexit is recovered here, and reported: it is what
			// stopped the Func, and the Goexit that follows ends the job
			// anyway.
			v = ErrGoexit
		}
		j.panicked = &PanicError{Value: v, Stack: debug.Stack()}
	}()
	for {
		j.ret = j.fn(j.ctx, j.args)
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
	j.ctx = &j.bgCtx // not to keep the last run's parent
}
