package signer

import (
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// op is one request in flight. Ops are pooled, so that the server adds
// no allocation of its own to a request; an op is back in the pool when
// both of its holders let go: the queue's (a worker, after taking it)
// and the answer's (the stream's sender once the answer is sent, or
// SignOne once it has read it). Until then it counts against its client
// and its stream.
type op struct {
	req      *pb.SignRequest
	st       *stream       // nil for SignOne
	cl       *client       // whose share it takes and whose bytes it holds
	ring     *keyring      // the keys and policy it was admitted under
	b        *budget       // charged there, unless nil
	charge   int64         // bytes charged to cl: its encoded size and opOverhead
	size     int64         // its encoded size
	counted  bool          // st counts it among those it holds
	cost     int64         // what signing it takes, in the scheduler's units (see cost)
	due      time.Duration // since queue.base: no worker takes it sooner
	deadline time.Duration // since queue.base: expired past it; 0 for none
	arrived  time.Duration // since Server.base, with metrics only: see observer.arrived
	state    atomic.Uint32 // opQueued, then opStarted or opCanceled
	refs     atomic.Int32
	res      pb.SignResult
	done     chan struct{} // SignOne: the worker has set res (capacity 1)
}

// The states of an op: queued until a worker starts it or a cancel
// drops it, whichever comes first (compare-and-swap decides).
const (
	opQueued uint32 = iota
	opStarted
	opCanceled
)

var opPool = sync.Pool{New: func() any { return new(op) }}

// newOp returns an op for req, held by refs holders.
func newOp(req *pb.SignRequest, st *stream, refs int32) *op {
	o := opPool.Get().(*op)
	o.req, o.st = req, st
	o.res.Id = req.GetId()
	o.refs.Store(refs)
	return o
}

// answer sets the op's result.
func (o *op) answer(code pb.Code, sig []byte, msg string) {
	o.res.Code, o.res.Signature, o.res.Error = code, sig, msg
}

// release lets go of one hold on o; the last one gives back what o
// held to its client and stream.
func (o *op) release() {
	if o.refs.Add(-1) != 0 {
		return
	}
	if o.b != nil {
		o.b.uncharge(o.cl, o.charge)
	}
	if o.counted {
		o.st.held.Add(-1)
		o.st.heldBytes.Add(-o.size)
	}
	o.req, o.st, o.cl, o.b, o.ring = nil, nil, nil, nil, nil
	o.charge, o.size, o.cost, o.deadline, o.counted = 0, 0, 0, 0, false
	o.state.Store(opQueued)
	o.res.Id, o.res.Code, o.res.Signature, o.res.Error = 0, 0, nil, ""
	opPool.Put(o)
}
