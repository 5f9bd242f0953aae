//go:build linux

package remote

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/internal/wake"
)

// A request is one signing operation. Like offload's, it is owned by one
// side at a time, and ownership moves only through its state word:
//
//   - The caller that made it owns it until it hands it to the engine.
//   - While it is reqPending it is shared: the engine side may send it,
//     move it from stream to stream and write its results, but neither side
//     may release it. The first to move it out of reqPending takes it: the
//     engine by moving it to reqCompleting when it has an answer, the caller
//     by moving it to reqAbandoned when it gives up.
//   - reqCompleting: the engine owns it and is waking the caller (wait fd
//     or channel). It then stores reqDone, its last touch; the caller owns
//     it again, reads the results and releases it. (A callback is called
//     after reqDone: see complete.)
//   - reqAbandoned: the caller has returned; the engine releases it once it
//     holds it no longer (when its answer arrives, or its stream fails),
//     without waking anyone.
//
// On the engine side a request is held in exactly one place at a time,
// changed only under that place's lock: a stream's queue, the stream's
// table of requests sent, or the local variable of the goroutine moving it
// (failing over, sweeping, completing). Whoever takes it out of a place is
// its only engine-side holder. So it is completed or released once, and an
// answer for it that arrives after it left its stream's table (a late
// answer from a dead stream, or for a request already timed out) finds no
// entry and is dropped: it can never reach a request reused for another
// operation. Each time a request is sent it gets a fresh ID, unique in the
// engine, so no two sends share one.
type request struct {
	state atomic.Uint32

	// Inputs, set by the caller before it hands the request over and read
	// by the engine while it holds the request.
	ctx     context.Context
	keyID   string
	alg     Algorithm
	payload []byte // the request's own copy
	expires int64  // when the engine gives up on it, on its clock (monoNow)

	// Where it was last sent and under which ID: written by the engine,
	// read by a caller that abandons it, to send the cancellation.
	at atomic.Pointer[stream]
	id atomic.Uint64

	// Engine side only.
	sends  int   // times sent
	failed int   // times its signer failed holding it (or shut down)
	wire   int64 // its encoded size as last sent (see Limits)

	// noRoom says that a signer refused it as overloaded, or that it waited
	// for room under a stream's bounds: an expiry is then reported as
	// ErrOverloaded. Written by the engine, read by the sweeper.
	noRoom atomic.Bool

	// pub is a public key fetched for a caller inside a job (PublicKey).
	pub any

	// Results, written by the engine before it leaves reqPending.
	sig []byte
	err error

	// How to wake the caller: wake (a wait fd or callback), or ch.
	wake  wake.Wake
	ch    chan struct{} // for callers outside a job; made once, reused
	useCh bool
}

// Request states.
const (
	reqPending = iota
	reqCompleting
	reqDone
	reqAbandoned
)

// maxKeep is the largest payload buffer a request keeps when it goes back
// to the pool.
const maxKeep = 4 << 10

var requests = sync.Pool{New: func() any { return &request{ch: make(chan struct{}, 1)} }}

func getRequest(ctx context.Context, keyID string, alg Algorithm, payload []byte) *request {
	r := requests.Get().(*request)
	r.ctx, r.keyID, r.alg = ctx, keyID, alg
	r.payload = append(r.payload[:0], payload...)
	r.state.Store(reqPending)
	return r
}

// release drops what r references and puts it back in the pool. Only r's
// last owner calls it.
func (r *request) release() {
	r.wake.Reset()
	r.useCh = false
	r.ctx, r.keyID, r.alg = nil, "", 0
	r.expires, r.sends, r.failed, r.wire = 0, 0, 0, 0
	r.noRoom.Store(false)
	r.pub = nil
	r.at.Store(nil)
	r.id.Store(0)
	r.sig, r.err = nil, nil
	if cap(r.payload) > maxKeep {
		r.payload = nil
	} else {
		r.payload = r.payload[:0]
	}
	requests.Put(r)
}

// complete hands the engine's finished request back to its caller with
// its results: it wakes the caller and marks the request done, or
// releases it if the caller gave up. Only the engine-side holder calls it.
//
// A WaitCtx callback is not called here but returned, for the engine to
// call after r is done (see Engine.callBack): the callback is the
// application's code and may resume the job itself, on this goroutine, and
// the job must then find its answer rather than wait for the goroutine it
// runs on. So, unlike a wait fd's, a callback may come after its operation
// has returned, as a late wake-up the application takes for a spurious
// one.
func (r *request) complete(sig []byte, err error) (cb async.CallbackFunc, arg any) {
	r.sig, r.err = sig, err
	if !r.state.CompareAndSwap(reqPending, reqCompleting) {
		r.release() // abandoned: nobody is waiting
		return nil, nil
	}
	switch {
	case r.wake.FD != nil:
		r.wake.FD.Signal()
	case r.wake.Callback != nil:
		cb, arg = r.wake.Callback, r.wake.Arg
	case r.useCh:
		r.ch <- struct{}{} // buffered, and empty: one completion per use
	}
	r.state.Store(reqDone) // the last touch: the caller owns r now
	return cb, arg
}

// abandoned reports whether the caller gave r up; the engine then drops
// it instead of sending it.
func (r *request) abandoned() bool { return r.state.Load() == reqAbandoned }

// abandon gives r up on behalf of a caller that is returning without its
// result. It reports true if the engine now owns r; then the caller must
// not touch r again. Otherwise r was completed meanwhile: abandon waits
// until the engine is done waking the caller, clears the wake-up, and the
// caller owns r (with its results) again.
func (r *request) abandon() bool {
	if r.state.CompareAndSwap(reqPending, reqAbandoned) {
		return true
	}
	r.waitDone()
	r.clearWake()
	return false
}

// waitDone waits for a request in reqCompleting to reach reqDone, a few
// instructions and one write(2), callback or channel send away.
func (r *request) waitDone() {
	for r.state.Load() != reqDone {
		runtime.Gosched()
	}
}

// clearWake consumes the completion's wake-up, so that a reused wait fd or
// channel does not carry it over to the next operation.
func (r *request) clearWake() {
	switch {
	case r.wake.FD != nil:
		r.wake.FD.Drain()
	case r.useCh:
		<-r.ch
	}
}
