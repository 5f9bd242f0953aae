package engine

import (
	"runtime"
	"sync/atomic"

	"github.com/seed-e1024768/async/internal/wake"
)

// A Handoff is the part of an engine's request that says who owns the
// request. The engine's request type embeds it. Ownership moves only
// through its state word:
//
//   - The job (or blocking caller) that made the request owns it until
//     it is submitted (Request.Submit reports true).
//   - While it is pending it is shared: the engine may run it, move it
//     about and write its results, but neither side may release it. The
//     first to move it out of pending takes it: the engine, by Complete
//     when the results are in; the job, by letting go of it when it stops
//     waiting (canceled, pool closed, ctx done).
//   - completing: the results are in, and Complete is waking the job
//     (writing the wait fd, sending to a blocked caller, or calling the
//     callback). It then marks the request done, its last touch; from
//     then on the job owns it again, reads the results and frees it
//     (Free). The job may read the results already while it is
//     completing, but not the callback's failure.
//   - abandoned: the job has let go of it; the engine owns it, and
//     releases it when it is done with it (Complete does that), without
//     waking anyone.
//
// So a request is released exactly once, by its last owner, and the late
// completion of a request whose job gave up never writes a request that is
// back in the engine's pool, reused by another operation.
//
// A job that finds its request completing while the engine writes the wait
// fd waits (yielding) for done, a write(2) away, before it drains the fd
// and returns: a wake-up through the fd never outlives its operation. A
// callback it waits for only briefly (see the package documentation).
//
// The zero Handoff is ready for use. Its engine calls Reset when it
// releases the request.
type Handoff struct {
	state atomic.Uint32
	wake  wake.Wake
	ch    chan struct{} // a blocking caller's wake-up; made once, kept
	useCh bool
	// cbErr is the callback's failure, written in completing and read by
	// the job only once done.
	cbErr *PanicError
}

// Handoff states.
const (
	pending = iota
	completing
	done
	abandoned
)

func (h *Handoff) handoff() *Handoff { return h }

// Reset drops what h refers to (its hold on the wait fd, the callback), for
// the engine's Release to call before it puts the request back in its pool.
func (h *Handoff) Reset() {
	h.wake.Reset()
	h.useCh = false
	h.cbErr = nil
}

// Abandoned reports whether the job let go of the request: the engine may
// skip its work, and should pass it to Complete (which releases it) as
// soon as it no longer needs it.
func (h *Handoff) Abandoned() bool { return h.state.Load() == abandoned }

// Request is what an engine gives a Waker: its own request type, which
// embeds a Handoff.
type Request interface {
	handoff() *Handoff
	// Submit hands the request to the engine's transport (a queue, a
	// stream). It reports false, and keeps nothing, when the engine is at
	// its bound: the job then pauses with async.StatusEAGAIN and Submit is
	// called again when it is resumed. Its error (the engine is closed,
	// say) is the operation's, and leaves the request with the job.
	Submit() (bool, error)
	// Release drops what the request refers to, calls Handoff.Reset and
	// puts the request back in the engine's pool. It is called once, by
	// the request's last owner.
	Release()
}

// Withdrawer is a Request that can tell its engine's transport that its
// job stops waiting, before the job lets go of it: remote tells its signer
// to drop the request, say. Withdraw may be called while the engine holds
// the request, and even after it completed it.
type Withdrawer interface {
	Withdraw()
}

// Complete hands the engine's finished request back to its job, once its
// results are written: it wakes the job as arranged and marks the request
// done, or releases it if the job let go of it. Only the engine-side holder
// of r calls it, once.
//
// A WaitCtx callback is called here, on the calling goroutine. If it
// panics, the panic is recovered; if it calls runtime.Goexit, Complete
// does not return, and the goroutine ends once the request has been handed
// over: the engine must replace that goroutine. Either way the failure is
// a *PanicError for the operation to return, or for Lost.
func (k *Waker) Complete(r Request) {
	h := r.handoff()
	if !h.state.CompareAndSwap(pending, completing) {
		r.Release() // abandoned: nobody is waiting
		return
	}
	switch {
	case h.wake.FD != nil:
		h.wake.Signal()
	case h.wake.Callback != nil:
		k.callBack(r, h)
		return
	case h.useCh:
		h.ch <- struct{}{} // buffered and empty: one completion per use
	}
	h.state.Store(done) // the last touch: the job owns r now
}

// callBack calls r's callback and then hands r to its job, with the
// callback's failure if it panicked or called runtime.Goexit.
func (k *Waker) callBack(r Request, h *Handoff) {
	returned := false
	defer func() {
		if returned {
			return
		}
		v := recover() // nil while Goexit unwinds
		if v == nil {
			v = ErrGoexit
		}
		pe := k.PanicError("WaitCtx callback", v)
		pe.Callback = true
		k.handOver(r, h, pe)
	}()
	h.wake.Callback(h.wake.Arg)
	returned = true
	k.handOver(r, h, nil)
}

// handOver ends the engine's part in r once its callback has returned or
// failed with pe: it gives r to the job with the failure recorded, or, if
// the job let go of r meanwhile, releases r and keeps the failure for
// Lost.
func (k *Waker) handOver(r Request, h *Handoff, pe *PanicError) {
	if pe != nil {
		h.cbErr = pe
	}
	if h.state.CompareAndSwap(completing, done) {
		return // the last touch: the job owns r now
	}
	if pe != nil {
		k.lost.CompareAndSwap(nil, pe)
	}
	r.Release()
}

// awaitCallback gives the callback the engine is calling a few yields to
// return, so that a failure in it is the operation's to report. It
// returns without it if the callback does not return: it may be the
// callback that resumed the job, on the engine's goroutine, and then it
// cannot return until the job pauses again or ends.
func (h *Handoff) awaitCallback() {
	for range callbackSpins {
		if h.state.Load() != completing || h.wake.Callback == nil {
			return
		}
		runtime.Gosched()
	}
}

// callbackSpins is how many times a job yields for its callback to
// return: far longer than a callback that returns takes (it must be small
// and not block), and short enough not to matter to a callback that
// resumed the job itself, which costs the wait every time.
const callbackSpins = 64

// Free lets go of r once its job (or blocking caller) has read the
// results, or is unwinding. If the engine has not finished r, or is still
// calling r's callback, r goes to the engine; otherwise Free waits for the
// engine to be done waking the job, drains the wait fd and releases r.
func Free(r Request) {
	h := r.handoff()
	for {
		switch s := h.state.Load(); {
		case s == done:
			if h.wake.FD != nil {
				h.wake.Drain()
			}
			r.Release()
			return
		case s == pending || h.wake.Callback != nil:
			if h.state.CompareAndSwap(s, abandoned) {
				return
			}
		default:
			runtime.Gosched() // the engine is writing the wait fd
		}
	}
}
