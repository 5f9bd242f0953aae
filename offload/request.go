package offload

import (
	"context"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"runtime"
	"sync"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/engine"
)

// A request is one offloaded operation. Who owns it when is the
// engine.Handoff it embeds: the job until it is in the ring, shared while
// it waits there or runs, the job again once a worker has completed it (or
// the worker, if the job let go of it first).
type request struct {
	engine.Handoff
	e  *Engine
	op opcode

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

	// Results, written by the worker before it completes the request.
	out      []byte // signature, or the sealed text (a slice of buf)
	buf      []byte // the request's own buffer for SealAESGCM
	sum      [32]byte
	err      error
	panicked bool
	panicVal any
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

// maxKeep is the largest buffer a request keeps when it goes back to the
// pool, so that one big operation does not pin its memory for good.
const maxKeep = 64 << 10

var requests = sync.Pool{New: func() any { return new(request) }}

func (e *Engine) getRequest(op opcode) *request {
	r := requests.Get().(*request)
	r.e, r.op = e, op
	return r
}

// Release drops what r references and puts it back in the pool. Only r's
// last owner calls it.
func (r *request) Release() {
	r.Handoff.Reset()
	r.e = nil
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

// free lets go of r once the job has read its results.
func (r *request) free() { engine.Free(r) }

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
	// running is the request whose Do func is running, for exited to
	// complete if that calls runtime.Goexit. (A callback's Goexit is
	// reported by Complete.)
	var running *request
	returned := false
	defer func() {
		if !returned {
			e.exited(running)
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
			case r.Abandoned():
				r.Release() // nobody wants the result: skip the work
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
		e.k.Complete(r)
		r = nil
	}
}

// exited runs on a worker that runtime.Goexit is ending, called by the
// Do func of running or by a WaitCtx callback (running is nil then; the
// callback's request was handed over already). It starts a new worker in
// the old one's place: Goexit cannot be stopped, only let finish. A
// request whose func exited is completed, with a *PanicError, by the new
// worker, as the old one cannot go on to do it.
func (e *Engine) exited(running *request) {
	if running != nil {
		running.err = e.k.PanicError("Do func", ErrGoexit)
	}
	e.startWorker(running)
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

// Submit puts r in the ring. It reports false if the ring is full, and
// ErrClosed if the engine is closed.
func (r *request) Submit() (bool, error) {
	e := r.e
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
	return true, nil
}

// await offloads r from inside job and waits for its results (see
// engine.Waker.Await): on success the caller reads them and frees r; on
// error r is released or the worker's. If the operation panicked, await
// raises the panic again, as if it had run in the job.
func (e *Engine) await(ctx context.Context, job *async.Job, r *request) error {
	if err := e.k.Await(ctx, job, r); err != nil {
		return err
	}
	if r.panicked {
		v := r.panicVal
		r.free()
		panic(v)
	}
	return nil
}
