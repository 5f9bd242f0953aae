package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/internal/wake"
)

// Await runs the job side of one operation from inside job, whose ctx is
// ctx: it arranges the wake-up, submits r (pausing with
// async.StatusEAGAIN while the engine is at its bound), and pauses until
// r's results are in, pausing again whenever the job is resumed before.
//
// On success the caller owns r: it reads the results, then calls Free.
// On error r is released or the engine's, and the error is one of:
// ctx's error, wrapped, when ctx is done before the results are in (the
// request is let go of, its late results discarded); PauseJob's when the
// job is canceled or its pool closed (async.ErrCanceled, async.ErrClosed),
// joined with the callback's *PanicError if its callback failed
// meanwhile; Submit's; one from setting up the wait fd; or the
// *PanicError of a callback that failed.
func (k *Waker) Await(ctx context.Context, job *async.Job, r Request) error {
	h := r.handoff()
	if err := ctx.Err(); err != nil {
		r.Release()
		return k.ctxErr(err)
	}
	h.state.Store(pending)
	w := job.WaitCtx()
	want, err := h.wake.Set(w, &k.policy)
	if err != nil {
		r.Release()
		return err
	}

	for {
		wake.SetStatus(w, want)
		ok, err := r.Submit()
		if err != nil {
			r.Release()
			return err
		}
		if ok {
			break
		}
		// At the bound: ask to be resumed soon, and retry then.
		if err := h.wake.PauseRetry(ctx, w); err != nil {
			r.Release()
			return err
		}
		if err := ctx.Err(); err != nil {
			r.Release()
			return k.ctxErr(err)
		}
	}
	if h.wake.FD != nil && !k.appParks {
		// The engine's goroutine, just woken, waits for a processor; the
		// one woken is put on this goroutine's, in the slot that runs next.
		// If the job paused now and its application blocked its thread in
		// poll(2), the engine's goroutine could wait until the runtime's
		// monitor took the processor back: tens of microseconds to
		// milliseconds. Yielding lets it start now. Only an application
		// waiting on a wait fd blocks in a system call, and only if it
		// does not park (AppParks).
		runtime.Gosched()
	}

	// Submitted: from here on r is shared with the engine. (Done, not
	// Err, on every resume: Err may take a lock; Done is a load once made.)
	ctxDone := ctx.Done()
	for spurious := 1; ; spurious++ {
		// Say again what to wait for: the application may have reset the
		// status before resuming (package loop does) and, after a spurious
		// resume, would otherwise take this pause for one to poll.
		wake.SetStatus(w, want)
		err := async.PauseJob(ctx)
		if err == nil {
			if h.state.Load() != pending {
				break // the results are in
			}
			if ctxDone != nil && !k.endsDone {
				select {
				case <-ctxDone:
					err = k.ctxErr(ctx.Err())
				default:
				}
			}
		}
		if err != nil {
			return k.letGo(r, h, err)
		}
		// Resumed before the results came: pause again.
		if spurious%k.yieldEvery == 0 {
			runtime.Gosched()
		}
	}
	h.awaitCallback()
	if h.state.Load() == done && h.cbErr != nil { // cbErr is the engine's until done
		err := h.cbErr
		Free(r)
		return err
	}
	return nil
}

// letGo ends the job's wait for r with err: it tells the engine's
// transport, waits briefly for a callback that is running, adds its
// failure to err, and frees r.
func (k *Waker) letGo(r Request, h *Handoff, err error) error {
	if wd, ok := r.(Withdrawer); ok && h.state.Load() == pending {
		wd.Withdraw()
	}
	h.awaitCallback()
	if h.state.Load() == done && h.cbErr != nil {
		err = errors.Join(err, h.cbErr) // the job stopped waiting, and the callback failed
	}
	Free(r)
	return err
}

// ctxErr wraps the error of a done ctx.
func (k *Waker) ctxErr(err error) error { return fmt.Errorf("%s: %w", k.name, err) }

// Block prepares r for a caller outside a job, which cannot pause: the
// engine wakes it through a channel, whatever the Notify. The caller then
// submits r to its engine by itself (waiting for room as it sees fit) and
// calls Wait. A request that is never submitted is released by the caller.
func (h *Handoff) Block() {
	h.state.Store(pending)
	if h.ch == nil {
		h.ch = make(chan struct{}, 1) // once per request: the engine pools them
	}
	h.useCh = true
}

// Wait waits for the results of r, prepared with Block and submitted, or
// for ctx to be done. On success the caller owns r: it reads the results,
// then calls Free. If ctx is done first, r goes to the engine (after
// Withdraw, if r is a Withdrawer) and Wait returns ctx's error, unwrapped,
// for the engine to explain; if the results came meanwhile, they are
// taken. An engine that waits on other terms builds its own Wait from
// Ready, Take and GiveUp.
func (k *Waker) Wait(ctx context.Context, r Request) error {
	h := r.handoff()
	select {
	case <-h.ch:
		h.Take()
		return nil
	case <-ctx.Done():
	}
	if k.GiveUp(r) {
		return ctx.Err()
	}
	return nil // answered meanwhile: take the answer
}

// Ready returns the channel that a caller blocked on r (see Block)
// receives from once r's results are in; it then calls Take.
func (h *Handoff) Ready() <-chan struct{} { return h.ch }

// Take waits, after a receive from Ready, for the engine to be done
// waking the caller (a store away); then the caller owns r.
func (h *Handoff) Take() {
	for h.state.Load() != done {
		runtime.Gosched()
	}
}

// GiveUp lets go of r, prepared with Block and submitted, for a caller
// that stops waiting for it: after Withdraw, if r is a Withdrawer, it
// reports true if r is the engine's now. It reports false if the results
// came meanwhile: it has taken the wake-up, and the caller owns r.
func (k *Waker) GiveUp(r Request) bool {
	h := r.handoff()
	if wd, ok := r.(Withdrawer); ok {
		wd.Withdraw()
	}
	if h.state.CompareAndSwap(pending, abandoned) {
		return true
	}
	<-h.ch
	h.Take()
	return false
}
