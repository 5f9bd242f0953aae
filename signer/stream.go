package signer

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// MaxQueued is how many requests a stream may have in flight (received,
// and their answers not yet sent); MaxQueuedBytes how many bytes they
// may take, each counted as its encoded size (key ID and unknown fields
// included). A request beyond either is answered CODE_OVERLOADED at
// once. The stream's client and the server have bounds in bytes of
// their own (Config.ClientMemory, Config.MaxMemory).
//
// MaxBatch is the most requests a RequestBatch may hold: a stream that
// sends more in one is ended with the gRPC status InvalidArgument. (The
// requests of one batch beyond MaxQueued are answered at once, and the
// next batch is read only once most answers are sent; MaxBatch bounds
// the memory that takes.)
//
// Every Sign stream's first ResultBatch says these bounds (its limits).
const (
	MaxQueued      = 4096
	MaxQueuedBytes = 16 << 20
	MaxBatch       = 4 * MaxQueued
)

// errBatchTooLarge ends a stream that sent more than MaxBatch requests
// in one batch.
var errBatchTooLarge = status.Errorf(codes.InvalidArgument, "more than %d requests in a batch", MaxBatch)

// stream is one Sign stream: a receiver goroutine that queues requests
// and a sender (the handler's goroutine) that sends answers in batches.
type stream struct {
	s  *Server
	cl *client
	// held and heldBytes count the requests the stream holds against
	// MaxQueued and MaxQueuedBytes: from their arrival until their
	// answers are sent (or dropped, if the stream ends first).
	held, heldBytes atomic.Int64
	// unsent counts the answers given to the sender and not yet sent.
	unsent atomic.Int64
	mu     sync.Mutex
	// inflight holds the stream's requests that are queued or being
	// signed, by ID.
	inflight map[uint64]*op
	pending  []*op // answered, waiting for the sender
	refused  bool  // a request was refused for its client's or the server's bound
	recvDone bool  // the receiver is done
	recvErr  error // why, if not the end of the client's requests
	// kick wakes the sender: pending became non-empty, or the receiver
	// is done. room wakes the receiver: the sender took pending.
	kick, room chan struct{}
	dead       atomic.Bool // the sender returned: drop what comes
	// resv is what the receiver has reserved for the message it reads
	// and has not yet let go of or charged to requests (see recvBatch);
	// the receiver's alone.
	resv int64
}

// errDraining ends streams while the server stops.
var errDraining = status.Error(codes.Unavailable, errShuttingDown)

// Sign serves one Sign stream until it ends (see stream.send).
func (v service) Sign(ss grpc.BidiStreamingServer[pb.RequestBatch, pb.ResultBatch]) error {
	id, _ := identityFromContext(ss.Context())
	st := v.s.newStream(v.s.budget.join(id))
	defer v.s.budget.leave(st.cl)
	v.s.wg.Add(1)
	go st.receive(ss)
	return st.send(ss)
}

func (s *Server) newStream(cl *client) *stream {
	return &stream{
		s:        s,
		cl:       cl,
		inflight: make(map[uint64]*op),
		kick:     make(chan struct{}, 1),
		room:     make(chan struct{}, 1),
	}
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// receive reads request batches until the stream ends. Each message is
// paid for before it is read (see recvReserve): while its client or the
// server has no room for it, the stream is not read, and flow control
// holds the client back.
func (st *stream) receive(ss grpc.BidiStreamingServer[pb.RequestBatch, pb.ResultBatch]) {
	defer st.s.wg.Done()
	var (
		m   rawMsg
		b   pb.RequestBatch
		ops []*op
	)
	ctx := ss.Context()
	for {
		if err := st.s.budget.recv(ctx, st.s.draining, st.cl, &st.resv, ss.RecvMsg, &m); err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			st.endRecv(err)
			return
		}
		st.s.counters.batchesIn.Add(1)
		n, err := st.takeRaw(m.flat(), &b, &ops)
		m.free()
		st.s.budget.unreserve(st.cl, &st.resv)
		if err != nil {
			if errors.Is(err, errBatchTooLarge) {
				st.s.counters.received.Add(uint64(n))
				st.s.counters.failed.Add(uint64(n))
				st.s.obs.requests(pb.Code_CODE_BAD_REQUEST, keyUnknown, n)
			}
			st.endRecv(err)
			return
		}
		// Bounded memory when the client does not read its answers:
		// stop reading its requests.
		st.waitRoom(ctx.Done())
	}
}

// endRecv tells the sender the receiver is done: the client has no more
// requests (err nil), or the stream failed.
func (st *stream) endRecv(err error) {
	st.mu.Lock()
	st.recvDone, st.recvErr = true, err
	st.mu.Unlock()
	poke(st.kick)
}

// waitRoom waits while the stream has MaxQueued answers or more not yet
// sent, or while its client (or the server) is near its bound in bytes
// and the stream holds anything (requests in flight, answers unsent) or
// has just had a request refused for that bound, or until done is
// closed: a client that does not read its answers is read no more, and
// one near its bound is read as its requests are answered.
func (st *stream) waitRoom(done <-chan struct{}) {
	for {
		freed := *st.s.budget.freed.Load() // before the check: no wake-up lost
		st.mu.Lock()
		unsent := st.unsent.Load()
		full := unsent >= MaxQueued ||
			(unsent > 0 || st.held.Load() > 0 || st.refused) && st.s.budget.full(st.cl)
		full = full && !st.dead.Load()
		if !full {
			st.refused = false
		}
		st.mu.Unlock()
		if !full {
			return
		}
		select {
		case <-st.room:
		case <-freed:
		case <-done:
			return
		}
	}
}

// take makes ops of b's requests, answers at once those it refuses, and
// returns (appended to ops) those to queue.
func (st *stream) take(b *pb.RequestBatch, ops []*op) []*op {
	reqs := b.GetRequests()
	s := st.s
	s.counters.received.Add(uint64(len(reqs)))
	draining := s.isDraining()
	ring := s.ring.Load()
	view := st.cl.keysFor(ring)
	var arrived time.Duration // read once, and only for a deadline
	st.mu.Lock()
	defer st.mu.Unlock()
	wasEmpty := len(st.pending) == 0
	for _, r := range reqs {
		var msg string
		code := pb.Code_CODE_OVERLOADED
		size := int64(proto.Size(r))
		c, denied := admitKey(ring, view, r)
		switch {
		case draining:
			code, msg = pb.Code_CODE_UNAVAILABLE, errShuttingDown
		case st.inflight[r.GetId()] != nil:
			code, msg = pb.Code_CODE_BAD_REQUEST, errDuplicate
		case st.held.Load() >= MaxQueued:
			msg = errFull
		case st.heldBytes.Load()+size > MaxQueuedBytes:
			msg = errStreamBytes
		case denied != nil:
			code, msg = pb.Code_CODE_PERMISSION_DENIED, errDenied
			s.noteDenied(st.cl.id, denied.name)
		default:
			if msg = s.budget.chargeFrom(st.cl, &st.resv, size); msg != "" {
				st.refused = true
				break
			}
			o := newOp(r, st, 2)
			o.cl, o.b, o.charge, o.size, o.counted = st.cl, s.budget, size+opOverhead, size, true
			o.cost, o.ring = c, ring
			if r.GetTimeoutNanos() != 0 || r.GetDeadlineUnixNano() != 0 {
				if arrived == 0 {
					arrived = time.Since(s.base)
				}
				o.deadline = deadlineOf(r, arrived)
			}
			st.held.Add(1)
			st.heldBytes.Add(size)
			st.inflight[r.GetId()] = o
			ops = append(ops, o)
			continue
		}
		// Refused: the answer is all that is kept.
		o := newOp(r, st, 1)
		o.req = nil
		o.cl, o.b, o.charge = st.cl, s.budget, opOverhead
		s.budget.force(st.cl, opOverhead)
		o.state.Store(opStarted)
		o.answer(code, nil, msg)
		s.count(code, s.keyTypeOf(r))
		st.queueAnswer(o)
	}
	if wasEmpty && len(st.pending) > 0 {
		poke(st.kick)
	}
	return ops
}

// queueAnswer gives o's answer to the sender, or lets go of it if the
// stream is dead; st.mu held.
func (st *stream) queueAnswer(o *op) {
	if st.dead.Load() {
		o.release()
		return
	}
	st.pending = append(st.pending, o)
	st.unsent.Add(1)
}

// cancel drops the requests of ids that no worker has started and
// answers them CODE_CANCELED.
func (st *stream) cancel(ids []uint64) {
	if len(ids) == 0 {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	wasEmpty := len(st.pending) == 0
	for _, id := range ids {
		o := st.inflight[id]
		if o == nil || !o.state.CompareAndSwap(opQueued, opCanceled) {
			continue
		}
		st.forget(o)
		o.answer(pb.Code_CODE_CANCELED, nil, errCanceled)
		st.s.count(pb.Code_CODE_CANCELED, st.s.keyTypeOf(o.req))
		st.queueAnswer(o)
	}
	if wasEmpty && len(st.pending) > 0 {
		poke(st.kick)
	}
}

// forget takes o out of inflight; st.mu held. Every op of the stream
// leaves inflight before it goes back to the pool, so that a cancel
// found there is always for this stream's own request.
func (st *stream) forget(o *op) {
	if st.inflight[o.res.Id] == o {
		delete(st.inflight, o.res.Id)
	}
}

// drop lets go of o, which a worker took from the queue after the
// stream died: out of inflight first.
func (st *stream) drop(o *op) {
	st.mu.Lock()
	st.forget(o)
	st.mu.Unlock()
	o.release() // the answer's hold: there will be none
	o.release() // the queue's
}

// deliver hands a worker's answer to the sender.
func (st *stream) deliver(o *op) {
	st.mu.Lock()
	st.forget(o)
	if st.dead.Load() {
		st.mu.Unlock()
		o.release()
		return
	}
	st.pending = append(st.pending, o)
	st.unsent.Add(1)
	wake := len(st.pending) == 1
	st.mu.Unlock()
	if wake {
		poke(st.kick)
	}
}

// maxResultBatch bounds the size of a ResultBatch, well under the 4 MiB
// a gRPC client accepts by default: answers ready beyond it go in
// further batches.
const maxResultBatch = 1 << 20

// sendBatch sends the first of ops' answers, as many as fit in
// maxResultBatch bytes (one at least), in out, and returns the rest.
func (st *stream) sendBatch(ss grpc.BidiStreamingServer[pb.RequestBatch, pb.ResultBatch], out *pb.ResultBatch, ops []*op) ([]*op, error) {
	out.Results = out.Results[:0]
	size := 0
	for _, o := range ops {
		// An upper bound of the answer's encoded size.
		n := len(o.res.Signature) + len(o.res.Error) + 32
		if size+n > maxResultBatch && size > 0 {
			break
		}
		size += n
		out.Results = append(out.Results, &o.res)
	}
	// SendMsg has encoded out when it returns (no stats handler holds
	// on to it), so out and the ops are free to reuse.
	err := ss.SendMsg(out)
	rest := ops[len(out.Results):]
	clear(out.Results)
	if err == nil {
		st.s.counters.batchesOut.Add(1)
	}
	return rest, err
}

// send sends answers as they come, everything ready in one batch, until
// the stream is done: the client has closed its side and every answer is
// sent (nil), the stream failed (its error), or the server stops and
// every answer is sent (Unavailable).
func (st *stream) send(ss grpc.BidiStreamingServer[pb.RequestBatch, pb.ResultBatch]) error {
	var (
		out      pb.ResultBatch
		batch    []*op
		draining = st.s.draining
		err      error
	)
	ctx := ss.Context()
	defer st.die()
	// The stream's bounds first, so that a client can keep within them
	// from its first batch.
	out.Limits = &pb.Limits{MaxInFlight: MaxQueued, MaxInFlightBytes: MaxQueuedBytes, MaxBatch: MaxBatch, MaxBatchBytes: MaxRecvMsgSize}
	err = ss.SendMsg(&out)
	out.Limits = nil
	if err != nil {
		return err
	}
	st.s.counters.batchesOut.Add(1)
	for {
		select {
		case <-st.kick:
		case <-draining:
			draining = nil
		case <-ctx.Done():
			return ctx.Err()
		}
		st.mu.Lock()
		batch, st.pending = st.pending, batch[:0]
		idle := len(st.inflight) == 0
		recvDone, recvErr := st.recvDone, st.recvErr
		st.mu.Unlock()
		if recvErr != nil {
			err = recvErr
		}
		for rest := batch; len(rest) > 0 && err == nil; {
			rest, err = st.sendBatch(ss, &out, rest)
		}
		for _, o := range batch {
			o.release()
		}
		clear(batch)
		if len(batch) > 0 {
			st.unsent.Add(-int64(len(batch)))
			poke(st.room)
		}
		switch {
		case err != nil:
			return err
		case recvDone && idle:
			return nil
		case draining == nil && idle:
			return errDraining
		}
	}
}

// die marks the stream dead once its sender returns, and lets go of the
// answers it will not send: from now on what comes for the stream is
// let go at once.
func (st *stream) die() {
	st.mu.Lock()
	st.dead.Store(true)
	batch := st.pending
	st.pending = nil
	st.unsent.Add(-int64(len(batch)))
	st.mu.Unlock()
	for _, o := range batch {
		o.release()
	}
	poke(st.room)
}
