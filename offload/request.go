//go:build linux

package offload

import (
	"context"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/internal/wake"
)

// A request is one offloaded operation. It is owned by exactly one side at
// a time, and ownership moves only through its state word:
//
//   - The job that made it owns it until it is sent into the ring.
//   - While it is reqPending it is shared: the worker may run it, and may
//     write its results, but neither side may release it. The first to
//     move it out of reqPending takes it: the worker by moving it to
//     reqCompleting when the work is done, the job by moving it to
//     reqAbandoned when it is canceled.
//   - reqCompleting: the results are in, and the worker is waking the job
//     (writing the wait fd or calling the callback). It then stores
//     reqDone, its last touch; from reqDone on, the job owns it again,
//     reads the results and releases it. The job may read the results
//     already in reqCompleting, but not cbErr.
//   - reqAbandoned: the job has let go of it; the worker owns it and
//     releases it, without waking anyone if it has not yet.
//
// So a request is released exactly once, by its last owner, and a stale
// worker never writes a request that is back in the pool: the late
// completion of a canceled job cannot reach another job's request.
//
// A job that finds its request in reqCompleting while the worker writes
// the wait fd waits (yielding) for reqDone, a write(2) away, before it
// clears the fd and returns: a wake-up through the fd never outlives the
// operation it is for. A callback it waits for only briefly: the callback
// is the application's code, and may be what resumed the job, on the
// worker's goroutine, so that the worker cannot go on until the job pauses
// or ends. If the callback has not returned by then, the job takes its
// results and moves the request to reqAbandoned, and the worker releases
// it once the callback returns; a panic or Goexit in the callback is then
// too late for the operation (see PanicError).
type request struct {
	state atomic.Uint32
	op    opcode

	// Inputs: the keys are the caller's (read-only); the byte inputs are
	// the request's own copies, reused from one request to the next.
	ecKey  *ecdsa.PrivateKey
	rsaKey *rsa.PrivateKey
	edKey  [ed25519.PrivateKeySize]byte
	aead   cipher.AEAD
	fn     func()
	in     []byte // digest, message, data or plaintext
	nonce  []byte
	ad     []byte

	// Results, written by the worker before it leaves reqPending.
	out      []byte // signature, or the sealed text (a slice of buf)
	buf      []byte // the request's own buffer for SealAESGCM
	sum      [32]byte
	err      error
	panicked bool
	panicVal any
	// cbErr is the callback's failure, written by the worker in
	// reqCompleting and read by the job only from reqDone.
	cbErr *PanicError

	// How to wake the job.
	wake wake.Wake
}

type opcode uint8

const (
	opDo opcode = iota
	opECDSA
	opEd25519
	opRSA
	opSHA256
	opSeal
)

// Request states.
const (
	reqPending    = iota // in the ring or running; shared
	reqCompleting        // the worker is waking the job; the worker's
	reqDone              // complete and woken; the job's
	reqAbandoned         // the job gave up on it; the worker's
)

// maxKeep is the largest buffer a request keeps when it goes back to the
// pool, so that one big operation does not pin its memory for good.
const maxKeep = 64 << 10

var requests = sync.Pool{New: func() any { return new(request) }}

func getRequest(op opcode) *request {
	r := requests.Get().(*request)
	r.op = op
	r.state.Store(reqPending)
	return r
}

// release drops what r references and puts it back in the pool. Only r's
// last owner calls it.
func (r *request) release() {
	r.wake.Reset()
	r.ecKey, r.rsaKey, r.aead, r.fn = nil, nil, nil, nil
	r.out, r.err = nil, nil
	r.panicked, r.panicVal, r.cbErr = false, nil, nil
	r.sum = [32]byte{}
	clear(r.edKey[:])
	r.in = scrub(r.in)
	r.nonce = scrub(r.nonce)
	r.ad = scrub(r.ad)
	r.buf = scrub(r.buf)
	requests.Put(r)
}

// scrub clears b, which may hold secrets, and returns it emptied for reuse,
// or nil if it is too big to keep.
func scrub(b []byte) []byte {
	if cap(b) > maxKeep {
		return nil
	}
	clear(b)
	return b[:0]
}

// run performs the operation, recording its result or its panic.
func (r *request) run() {
	defer func() {
		if v := recover(); v != nil {
			r.panicked, r.panicVal = true, v
		}
	}()
	switch r.op {
	case opDo:
		r.fn()
	case opECDSA:
		r.out, r.err = signECDSA(r.ecKey, r.in)
	case opEd25519:
		r.out = ed25519.Sign(r.edKey[:], r.in)
	case opRSA:
		r.out, r.err = signRSA(r.rsaKey, r.in)
	case opSHA256:
		r.sum = sha256.Sum256(r.in)
	case opSeal:
		r.buf = r.aead.Seal(r.buf[:0], r.nonce, r.in, r.ad)
		r.out = r.buf
	}
}

// complete hands the worker's finished request back to its job: it wakes
// the job and marks the request done, or releases it if the job gave up.
func (e *Engine) complete(r *request) {
	if !r.state.CompareAndSwap(reqPending, reqCompleting) {
		r.release() // abandoned: nobody is waiting
		return
	}
	switch {
	case r.wake.FD != nil:
		r.wake.FD.Signal()
	case r.wake.Callback != nil:
		e.handOver(r, callback(r))
		return
	}
	r.state.Store(reqDone) // the last touch: the job owns r now
}

// callback calls r's callback, returning a panic in it as an error.
func callback(r *request) (pe *PanicError) {
	defer func() {
		if v := recover(); v != nil {
			pe = &PanicError{Callback: true, Value: v, Stack: debug.Stack()}
		}
	}()
	r.wake.Callback(r.wake.Arg)
	return nil
}

// handOver ends the worker's part in r, once its callback has returned or
// failed with pe: it gives r to the job with the failure recorded, or, if
// the job let go of r meanwhile, releases r and keeps the failure for
// Close.
func (e *Engine) handOver(r *request, pe *PanicError) {
	if pe != nil {
		r.cbErr = pe
	}
	if r.state.CompareAndSwap(reqCompleting, reqDone) {
		return // the last touch: the job owns r now
	}
	if pe != nil {
		e.lost.CompareAndSwap(nil, pe)
	}
	r.release()
}

// awaitCallback gives r's callback, which the worker is calling, a few
// yields to return, so that a failure in it is the operation's to report.
// It returns without it if the callback does not return: it may be the
// callback that resumed the job, on the worker's goroutine, and then it
// cannot return until the job pauses again or ends.
func (r *request) awaitCallback() {
	for range callbackSpins {
		if r.state.Load() != reqCompleting {
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

// free lets go of r, submitted by the job, once the job is done with it:
// it has read the results, or it is unwinding. If the worker has not
// finished r, or is calling r's callback, r goes to the worker (see
// request); otherwise the job waits for the worker to be done waking it,
// clears the wake-up and releases r.
func (r *request) free() {
	for {
		switch s := r.state.Load(); {
		case s == reqDone:
			if r.wake.FD != nil {
				r.wake.FD.Drain()
			}
			r.release()
			return
		case s == reqPending || r.wake.Callback != nil:
			if r.state.CompareAndSwap(s, reqAbandoned) {
				return
			}
		default:
			runtime.Gosched() // the worker is writing the wait fd
		}
	}
}

// startWorker starts a worker; first, if not nil, is a request it
// completes before it serves the ring.
func (e *Engine) startWorker(first *request) {
	e.wg.Add(1)
	go e.worker(first)
}

// worker serves the ring until Close; requests still in the ring then
// complete with ErrClosed. first is a request that has run but is not yet
// complete (see exited).
func (e *Engine) worker(first *request) {
	// running and waking are the request whose Do func or callback is
	// running, for exited to complete if that calls runtime.Goexit.
	var running, waking *request
	returned := false
	defer func() {
		if !returned {
			e.exited(running, waking)
		}
		e.wg.Done()
	}()
	var pace pacer
	pace.restart()
	r := first
	for {
		if r == nil {
			if r = e.next(&pace); r == nil {
				returned = true
				return
			}
			switch {
			case r.state.Load() == reqAbandoned:
				r.release() // nobody wants the result: skip the work
				r = nil
				continue
			case e.closed.Load():
				r.err = ErrClosed
			default:
				running = r
				r.run()
				running = nil
			}
		}
		waking = r
		e.complete(r)
		waking, r = nil, nil
	}
}

// exited runs on a worker that runtime.Goexit is ending, called by the Do
// func of running or the callback of waking (one of them is set): it
// completes the request with a *PanicError and starts a new worker in the
// old one's place. Goexit cannot be stopped, only let finish; so a
// request whose func exited is completed by the new worker, as the old
// one cannot go on to do it.
func (e *Engine) exited(running, waking *request) {
	pe := &PanicError{Value: ErrGoexit, Stack: debug.Stack()}
	if running != nil {
		running.err = pe
		e.startWorker(running)
		return
	}
	if waking != nil {
		pe.Callback = true
		e.handOver(waking, pe)
	}
	e.startWorker(nil)
}

// next returns the worker's next request, or nil once the engine is closed
// and the ring empty.
//
// A request found at once runs back to back with the previous one, paced
// by pace. When the ring is empty the worker yields and looks again a few
// times (workerSpins) before it parks: a parked worker costs the next
// submitter a wake-up through the scheduler, and often a thread's, which
// is worth more than a short wait. (Letting only one worker spin at a time
// measured slower.)
func (e *Engine) next(pace *pacer) *request {
	if r := e.ring.take(); r != nil {
		pace.tick()
		return r
	}
	for {
		for range workerSpins {
			runtime.Gosched()
			if r := e.ring.take(); r != nil {
				pace.restart()
				return r
			}
		}
		// Park. Counting itself in parked before it looks once more pairs
		// with trySubmit, which puts and then looks at parked: one of the
		// two sees the other, so no request waits for a parked worker.
		e.parked.Add(1)
		r := e.ring.take()
		if r == nil && !e.closed.Load() {
			<-e.wake
			r = e.ring.take()
		}
		e.parked.Add(-1)
		if r != nil {
			pace.restart()
			return r
		}
		if e.closed.Load() && e.ring.empty() {
			return nil
		}
	}
}

// wakeOne wakes a parked worker, if there is one and a wake-up is not owed
// to every parked worker already.
func (e *Engine) wakeOne() {
	if e.parked.Load() > 0 {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

// workerSpins is how many times an idle worker yields and looks at the
// ring before it parks: some 10µs on this project's reference machine.
const workerSpins = 64

// trySubmit puts r in the ring. It reports false if the ring is full, and
// ErrClosed if the engine is closed.
func (e *Engine) trySubmit(r *request) (bool, error) {
	e.mu.RLock()
	if e.closed.Load() {
		e.mu.RUnlock()
		return false, ErrClosed
	}
	if !e.ring.put(r) {
		e.mu.RUnlock()
		return false, nil
	}
	e.wakeOne()
	e.mu.RUnlock()
	if r.wake.FD != nil && !e.appParks {
		// A worker woken, or one yielding while it spins, waits for a P;
		// the one woken is put on this goroutine's, in the slot that runs
		// next. If this goroutine went on to pause the job and its
		// application blocked in a system call (poll, epoll_wait), the
		// worker could wait until the runtime's monitor took the P back:
		// tens of microseconds to milliseconds. Yielding lets it start
		// now. Only an application waiting on a wait fd blocks in a system
		// call to wait, and only if it does not park (AppParks); one that
		// polls or takes callbacks does not, and the yield would only
		// slow it down.
		runtime.Gosched()
	}
	return true, nil
}

// await offloads r from inside job: it arranges the wake-up, submits r
// (pausing with StatusEAGAIN while the ring is full), and pauses until r's
// results are in. On success the caller reads them and frees r. On error r
// is released or handed to the worker, and the error is PauseJob's (the
// job was canceled or its pool closed), ErrClosed, one from setting up the
// wait fd, or the callback's *PanicError. If the operation panicked, await
// raises the panic again.
func (e *Engine) await(ctx context.Context, job *async.Job, r *request) error {
	w := job.WaitCtx()
	want, err := r.wake.Set(w, &e.wakeBy)
	if err != nil {
		r.release()
		return err
	}

	for {
		wake.SetStatus(w, want)
		ok, err := e.trySubmit(r)
		if err != nil {
			r.release()
			return err
		}
		if ok {
			break
		}
		// Ring full: ask to be resumed soon, and retry then.
		if err := r.wake.PauseRetry(ctx, w); err != nil {
			r.release()
			return err
		}
	}

	// Submitted: from here on the request is shared with the worker.
	for {
		// Say again what to wait for: the application may have reset the
		// status before resuming (package loop does) and, after a spurious
		// resume, would otherwise take this pause for one to poll.
		wake.SetStatus(w, want)
		if err := async.PauseJob(ctx); err != nil {
			r.awaitCallback()
			if r.state.Load() == reqDone && r.cbErr != nil {
				err = errors.Join(err, r.cbErr) // canceled, and the callback failed
			}
			r.free()
			return err
		}
		if s := r.state.Load(); s != reqPending {
			if s == reqCompleting && r.wake.Callback != nil {
				r.awaitCallback()
			}
			break // the results are in
		}
		// Resumed before the operation completed: pause again. Yield
		// first, in case pausing is blocked (BlockPause) and PauseJob
		// returns at once.
		runtime.Gosched()
	}
	if r.panicked {
		v := r.panicVal
		r.free()
		panic(v)
	}
	if r.state.Load() == reqDone && r.cbErr != nil { // cbErr is the worker's until reqDone
		err := r.cbErr
		r.free()
		return err
	}
	return nil
}
