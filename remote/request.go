package remote

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/seed-e1024768/async/engine"
)

// A request is one operation (a signature, or a public key's fetch). Who
// owns it when is the engine.Handoff it embeds: the caller until it is
// submitted, shared while the engine sends it, the caller again once the
// engine has completed it (or the engine, if the caller let go of it
// first).
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
	engine.Handoff
	e     *Engine
	fetch bool // a public key's fetch (PublicKey), not a signature

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

	// Results, written by the engine before it completes the request.
	sig []byte
	err error
}

// maxKeep is the largest payload buffer a request keeps when it goes back
// to the pool.
const maxKeep = 4 << 10

var requests = sync.Pool{New: func() any { return new(request) }}

func (e *Engine) getRequest(ctx context.Context, keyID string, alg Algorithm, payload []byte) *request {
	r := requests.Get().(*request)
	r.e, r.ctx, r.keyID, r.alg = e, ctx, keyID, alg
	r.payload = append(r.payload[:0], payload...)
	return r
}

// Release drops what r references and puts it back in the pool. Only r's
// last owner calls it.
func (r *request) Release() {
	r.Handoff.Reset()
	r.e, r.fetch = nil, false
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

// Submit takes a slot for r and hands it to a stream (or, for a fetch,
// to a goroutine of its own). It reports false when every slot is taken
// (Config.MaxInFlight), and ErrClosed once the engine is closed.
func (r *request) Submit() (bool, error) {
	e := r.e
	if !e.trySlot() {
		if e.closed.Load() {
			return false, ErrClosed
		}
		return false, nil
	}
	var err error
	if r.fetch {
		err = e.startFetch(r)
	} else {
		err = e.dispatch(r)
	}
	if err != nil {
		e.freeSlot()
		return false, err
	}
	return true, nil
}

// Withdraw tells the signer that had r, if any, to drop it: its caller
// stops waiting for it.
func (r *request) Withdraw() {
	if st := r.at.Load(); st != nil {
		st.cancel(r.id.Load())
	}
}

// abandoned reports whether the caller gave r up; the engine then drops
// it instead of sending it.
func (r *request) abandoned() bool { return r.Abandoned() }
