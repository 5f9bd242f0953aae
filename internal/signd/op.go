package signd

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
// SignOne once it has read it).
type op struct {
	req   *pb.SignRequest
	st    *stream       // nil for SignOne
	due   time.Duration // since queue.base: no worker takes it sooner
	state atomic.Uint32 // opQueued, then opStarted or opCanceled
	refs  atomic.Int32
	res   pb.SignResult
	done  chan struct{} // SignOne: the worker has set res (capacity 1)
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

// release lets go of one hold on o.
func (o *op) release() {
	if o.refs.Add(-1) != 0 {
		return
	}
	o.req, o.st = nil, nil
	o.state.Store(opQueued)
	o.res.Id, o.res.Code, o.res.Signature, o.res.Error = 0, 0, nil, ""
	opPool.Put(o)
}
