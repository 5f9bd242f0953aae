//go:build linux

package offload

import (
	"context"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
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
//   - reqCompleting: the worker owns it and is waking the job (writing the
//     wait fd or calling the callback). It then stores reqDone, its last
//     touch; from reqDone on, the job owns it again, reads the results and
//     releases it.
//   - reqAbandoned: the job has returned; the worker owns it and releases
//     it without waking anyone.
//
// So a request is released exactly once, by its last owner, and a stale
// worker never writes a request that is back in the pool: the late
// completion of a canceled job cannot reach another job's request. A job
// that finds its request in reqCompleting waits (yielding) for reqDone,
// which is a few instructions and one write(2) or callback away; it never
// returns before the worker is done waking it, so a wake-up never outlives
// the operation it is for.
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

	// How to wake the job: at most one of wfd and cb is set.
	wfd   *waitFD
	cb    async.CallbackFunc
	cbArg any
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
	if r.wfd != nil {
		r.wfd.unref()
		r.wfd = nil
	}
	r.cb, r.cbArg = nil, nil
	r.ecKey, r.rsaKey, r.aead, r.fn = nil, nil, nil, nil
	r.out, r.err = nil, nil
	r.panicked, r.panicVal = false, nil
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
func (r *request) complete() {
	if !r.state.CompareAndSwap(reqPending, reqCompleting) {
		r.release() // abandoned: nobody is waiting
		return
	}
	if r.wfd != nil {
		r.wfd.signal()
	} else if r.cb != nil {
		r.cb(r.cbArg)
	}
	r.state.Store(reqDone) // the last touch: the job owns r now
}

// abandon gives up on r, submitted by a job that is unwinding. If the
// worker has not finished r, the worker gets it; otherwise the job waits
// for the worker to be done waking it, clears the wake-up and releases r.
func (r *request) abandon() {
	if r.state.CompareAndSwap(reqPending, reqAbandoned) {
		return
	}
	r.waitDone()
	if r.wfd != nil {
		r.wfd.drain()
	}
	r.release()
}

// waitDone waits for a request in reqCompleting to reach reqDone.
func (r *request) waitDone() {
	for r.state.Load() != reqDone {
		runtime.Gosched()
	}
}

// worker serves the ring until Close; requests still in the ring then
// complete with ErrClosed.
func (e *Engine) worker() {
	defer e.wg.Done()
	var pace pacer
	pace.restart()
	for {
		r := e.next(&pace)
		if r == nil {
			return
		}
		switch {
		case r.state.Load() == reqAbandoned:
			r.release() // nobody wants the result: skip the work
			continue
		case e.closed.Load():
			r.err = ErrClosed
		default:
			r.run()
		}
		r.complete()
	}
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
	if r.wfd != nil && !e.appParks {
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
// (pausing with StatusEAGAIN while the ring is full), and pauses until r is
// done. On success r is done and the caller owns it, reads the results and
// releases it. On error r is released or handed to the worker, and the
// error is PauseJob's (the job was canceled or its pool closed), ErrClosed,
// or one from setting up the wait fd. If the operation panicked, await
// raises the panic again.
func (e *Engine) await(ctx context.Context, job *async.Job, r *request) error {
	w := job.WaitCtx()
	want := async.StatusUnsupported
	switch e.notify {
	case NotifyAuto:
		if fn, arg, ok := w.Callback(); ok {
			r.cb, r.cbArg = fn, arg
			want = async.StatusOK
			break
		}
		fallthrough
	case NotifyFD:
		f, err := e.waitFD(w)
		if err != nil {
			r.release()
			return err
		}
		f.refs.Add(1) // the request's reference, dropped by release
		r.wfd = f
	}

	for {
		setStatus(w, want)
		ok, err := e.trySubmit(r)
		if err != nil {
			r.release()
			return err
		}
		if ok {
			break
		}
		// Ring full: ask to be resumed soon, and retry then.
		setStatus(w, async.StatusEAGAIN)
		if r.wfd != nil {
			r.wfd.signal()
		}
		err = async.PauseJob(ctx)
		if r.wfd != nil {
			r.wfd.drain()
		}
		if err != nil {
			r.release()
			return err
		}
	}

	// Submitted: from here on the request is shared with the worker.
	for {
		// Say again what to wait for: the application may have reset the
		// status before resuming (package loop does) and, after a spurious
		// resume, would otherwise take this pause for one to poll.
		setStatus(w, want)
		if err := async.PauseJob(ctx); err != nil {
			r.abandon()
			return err
		}
		s := r.state.Load()
		if s == reqDone {
			break
		}
		if s == reqCompleting {
			r.waitDone()
			break
		}
		// Resumed before the operation completed: pause again. Yield
		// first, in case pausing is blocked (BlockPause) and PauseJob
		// returns at once.
		runtime.Gosched()
	}
	if r.wfd != nil {
		r.wfd.drain()
	}
	if r.panicked {
		v := r.panicVal
		r.release()
		panic(v)
	}
	return nil
}

// setStatus sets w's engine status to s unless it is s already.
func setStatus(w *async.WaitCtx, s async.EngineStatus) {
	if w.Status() != s {
		_ = w.SetStatus(s) // fails only if w was freed; resuming will say so
	}
}

// waitFD is the engine's eventfd for one WaitCtx. It is closed when its
// last reference goes: the WaitCtx holds one until it is freed (the
// cleanup drops it), and each request using it holds one until released,
// so a WaitCtx freed while a request is in flight cannot make the worker
// write to a closed (or reused) fd number.
type waitFD struct {
	fd   int
	refs atomic.Int32
}

// one is the 8-byte host-order 1 written to an eventfd to make it readable.
var one = func() (b [8]byte) {
	binary.NativeEndian.PutUint64(b[:], 1)
	return b
}()

// waitFD returns the engine's wait fd for w, creating it and setting it
// under the key e on first use.
func (e *Engine) waitFD(w *async.WaitCtx) (*waitFD, error) {
	if _, data, ok := w.FD(e); ok {
		if f, ok := data.(*waitFD); ok {
			return f, nil
		}
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, &fdError{op: "eventfd", err: err}
	}
	f := &waitFD{fd: fd}
	f.refs.Store(1) // the WaitCtx's reference
	if err := w.SetWaitFD(e, fd, f, cleanupWaitFD); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return f, nil
}

// cleanupWaitFD is the async.CleanupFunc of the engine's wait fds: Free
// drops the WaitCtx's reference.
func cleanupWaitFD(_ *async.WaitCtx, _ any, _ int, data any) {
	if f, ok := data.(*waitFD); ok {
		f.unref()
	}
}

func (f *waitFD) unref() {
	if f.refs.Add(-1) == 0 {
		_ = unix.Close(f.fd)
	}
}

// signal makes the fd readable.
func (f *waitFD) signal() {
	for {
		if _, err := unix.Write(f.fd, one[:]); err != unix.EINTR {
			// EAGAIN means the counter is at its maximum: readable anyway.
			return
		}
	}
}

// drain makes the fd unreadable again: reading an eventfd returns its
// counter and resets it. EAGAIN means it was not readable.
func (f *waitFD) drain() {
	var b [8]byte
	for {
		if _, err := unix.Read(f.fd, b[:]); err != unix.EINTR {
			return
		}
	}
}

// fdError reports a failed system call setting up a wait fd.
type fdError struct {
	op  string
	err error
}

func (e *fdError) Error() string { return "offload: " + e.op + ": " + e.err.Error() }
func (e *fdError) Unwrap() error { return e.err }
