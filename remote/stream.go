package remote

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-e1024768/async/internal/signpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// A stream is one of a signer's long-lived bidirectional Sign streams, and
// the two goroutines that serve it: run, which (re)opens the gRPC stream
// and sends, and receive. Requests from any number of callers share it,
// told apart by ID.
//
// run drains the whole queue into one RequestBatch each time it wakes, so
// requests that arrive while a batch is on its way travel together in the
// next one: batching costs no waiting, and a request never waits for a
// burst to fill.
type stream struct {
	srv *signerConn

	mu      sync.Mutex
	queue   []*request          // to send; never sent on this stream yet
	cancels []uint64            // IDs to cancel, sent with the next batch
	sent    map[uint64]*request // sent on the current gRPC stream, unanswered
	exited  bool                // run has returned: the engine is closed
	abort   context.CancelFunc  // ends the current gRPC stream, if one is up

	// What the signer holds the current gRPC stream to, and what is in
	// flight against it: every request sent and not yet answered, whether
	// or not its caller still waits (the signer holds it until it
	// answers). gone keeps the encoded sizes of those no longer in sent
	// (their time ran out), by ID. window is the in-flight bound learned
	// from refusals (at most lim.inFlight); after a refusal with nothing
	// in flight, no request is sent before holdUntil (see learn).
	lim       limits
	window    int
	inFlight  int
	inBytes   int64
	gone      map[uint64]int64
	hold      int64 // the last hold, in ns
	holdUntil int64 // on the engine's clock

	told atomic.Bool  // the signer said its Limits on this gRPC stream
	live atomic.Bool  // a gRPC stream is up
	load atomic.Int32 // len(queue)+len(sent), for pick to read without mu: see recount
	kick chan struct{}

	// The sender's reusable batch: its SignRequests and their payload
	// buffers are the sender's own, so a request can complete, and be
	// reused, while its copy is being marshaled.
	batch signpb.RequestBatch
	reqs  []*signpb.SignRequest
}

func newStream(s *signerConn) *stream {
	st := &stream{srv: s, sent: make(map[uint64]*request), gone: make(map[uint64]int64), kick: make(chan struct{}, 1)}
	st.resetLimits()
	return st
}

// recount sets load from what the stream holds, after every change of
// queue or sent, under mu: the one place the count is kept.
func (st *stream) recount() { st.load.Store(int32(len(st.queue) + len(st.sent))) }

// wakeSender makes sure the sender (run) looks at the queue soon.
func (st *stream) wakeSender() {
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// enqueue hands r to the stream. It reports false if the stream's sender
// has exited (the engine is closed); r is then still the caller's.
func (st *stream) enqueue(r *request) bool {
	st.mu.Lock()
	if st.exited {
		st.mu.Unlock()
		return false
	}
	st.queue = append(st.queue, r)
	st.recount()
	st.mu.Unlock()
	st.wakeSender()
	return true
}

// cancel asks the signer to drop the request sent under id, if it is still
// outstanding on this stream.
func (st *stream) cancel(id uint64) {
	st.mu.Lock()
	if _, ok := st.sent[id]; ok {
		st.cancels = append(st.cancels, id)
	}
	st.mu.Unlock()
	st.wakeSender()
}

// reset ends the current gRPC stream, if any: run then fails its requests
// over and opens a new one.
func (st *stream) reset() {
	st.mu.Lock()
	if st.abort != nil {
		st.abort()
	}
	st.mu.Unlock()
}

// run serves the stream until the engine is closed or its signer has
// left: it opens a gRPC stream, sends batches until the stream fails,
// fails the requests it held over to other streams, waits a little, and
// starts again. The wait doubles, from minRetry to maxRetry, while streams
// fail to open.
//
// Failing requests over, or failing them at Close, may call a WaitCtx
// callback on this goroutine, which may end it with runtime.Goexit: each
// then goes on with the other requests, and the deferred call here starts
// a new run, so that the stream goes on serving.
func (st *stream) run() {
	e, s := st.srv.e, st.srv
	exited := true
	defer func() {
		if exited && s.ctx.Err() == nil {
			s.spawn(st.run) // counted before this one ends: Close's Wait cannot return between
		}
	}()
	retry := time.NewTimer(0)
	<-retry.C
	defer retry.Stop()
	wait := minRetry
	for s.ctx.Err() == nil {
		opened, err := st.session()
		s.note(err)
		st.failover(err)
		if s.ctx.Err() != nil {
			break
		}
		if opened {
			wait = minRetry
		}
		retry.Reset(jittered(wait))
		wait = min(2*wait, maxRetry)
		select {
		case <-retry.C:
		case <-s.ctx.Done():
		}
	}
	exited = false
	st.mu.Lock()
	st.exited = true
	held := st.takeAll()
	st.mu.Unlock()
	if e.ctx.Err() == nil { // the signer left: another takes its requests
		each(held, func(r *request) { e.resend(r, s, errLeft) })
		return
	}
	each(held, func(r *request) { e.finish(r, nil, ErrClosed) })
}

// The bounds of the wait between two attempts to open a stream. (gRPC
// paces the connection attempts themselves with its own backoff.)
const (
	minRetry = 10 * time.Millisecond
	maxRetry = 250 * time.Millisecond
)

// retryJitter is how far a wait between attempts strays from its nominal
// length, either way, as a fraction of it: gRPC's own backoff strays as
// far, so that the streams of many clients that lost one signer together
// do not come back to it in step.
const retryJitter = 0.2

// jittered returns d strayed by up to retryJitter of it, at random.
func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 + retryJitter*(2*rand.Float64()-1)))
}

// session runs one gRPC stream: it opens it, starts receive, and sends
// until either side fails. It returns whether the stream opened, and why
// it ended, once receive has returned too.
func (st *stream) session() (opened bool, err error) {
	e := st.srv.e
	ctx, abort := context.WithCancel(st.srv.ctx)
	defer abort()
	st.mu.Lock()
	st.abort = abort
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.abort = nil
		st.mu.Unlock()
	}()

	cs, err := st.srv.client.Sign(ctx)
	if err != nil {
		return false, fmt.Errorf("%s: opening stream: %w", st.srv.addr, err)
	}
	st.live.Store(true)
	st.srv.opened()
	defer st.live.Store(false)
	recvErr := make(chan error, 1)
	go func() {
		err := errReceiverExit // unless receive returns
		defer func() { recvErr <- err }()
		err = st.receive(cs)
	}()

	hold := time.NewTimer(time.Hour)
	hold.Stop()
	defer hold.Stop()
	var held <-chan time.Time // hold's channel while it is set
	for {
		select {
		case <-st.kick:
		case <-held:
			held = nil
		case err := <-recvErr:
			return true, fmt.Errorf("%s: %w", st.srv.addr, err)
		case <-ctx.Done():
			abort()
			<-recvErr
			return true, fmt.Errorf("%s: stream closed: %w", st.srv.addr, ctx.Err())
		}
		b, more, wait := st.fill()
		if wait > 0 && held == nil {
			hold.Reset(wait)
			held = hold.C
		}
		if more {
			st.wakeSender() // a full batch went: send the next at once
		}
		if b == nil {
			continue
		}
		if err := cs.Send(b); err != nil {
			abort()
			rerr := <-recvErr // Send reports io.EOF; Recv the real cause
			return true, fmt.Errorf("%s: %w", st.srv.addr, rerr)
		}
		e.stats.batches.Add(1)
		e.stats.sent.Add(uint64(len(b.Requests)))
		e.stats.cancelsSent.Add(uint64(len(b.Cancel)))
	}
}

// fill moves the requests at the head of the queue that fit within the
// stream's bounds (see limits) to the sent table, giving each a fresh ID,
// and returns the batch that carries them and the pending cancellations;
// nil if there is nothing to send. more says that the batch is full and
// more could go at once; wait, that the stream is held back after a
// refusal, and for how long.
//
// Each request carries the time it has left, taken just before the batch
// goes out, not when it was queued: time spent waiting here for room is
// the caller's, and the signer must not spend it again.
func (st *stream) fill() (b *signpb.RequestBatch, more bool, wait time.Duration) {
	e := st.srv.e
	b = &st.batch
	b.Requests = b.Requests[:0]
	b.Cancel = b.Cancel[:0]
	var drop []*request
	now := monoNow()
	st.mu.Lock()
	if now < st.holdUntil {
		wait = time.Duration(st.holdUntil - now)
	}
	q := st.queue[:0]
	i := 0
	// The batch's encoded size so far: the cancellations it will carry,
	// counted at their largest, then each request with its field's tag
	// and length.
	bytes := int64(len(st.cancels))*binary.MaxVarintLen64 + 16
	for ; i < len(st.queue) && wait == 0; i++ {
		r := st.queue[i]
		if r.abandoned() {
			drop = append(drop, r)
			continue
		}
		left := r.expires - now
		if left <= 0 {
			q = append(q, r) // the sweeper ends it
			continue
		}
		n := len(b.Requests)
		if n == st.lim.batch {
			more = st.inFlight < st.window
			break
		}
		if n == len(st.reqs) {
			st.reqs = append(st.reqs, new(signpb.SignRequest))
		}
		m := st.reqs[n]
		m.Id, m.KeyId, m.Algorithm = e.ids.Add(1), r.keyID, signpb.Algorithm(r.alg)
		m.Payload = append(m.Payload[:0], r.payload...)
		m.TimeoutNanos = left
		size := wireSize(m)
		field := 1 + int64(protowire.SizeBytes(int(size)))
		if n > 0 && bytes+field > st.lim.batchBytes {
			more = st.inFlight < st.window
			break
		}
		if st.atBound(size, now) {
			r.noRoom.Store(true)
			break
		}
		bytes += field
		r.id.Store(m.Id)
		r.at.Store(st)
		r.sends++
		r.wire = size
		st.sent[m.Id] = r
		st.inFlight++
		st.inBytes += size
		b.Requests = append(b.Requests, m)
	}
	q = append(q, st.queue[i:]...) // overlapping: copy moves them forward
	clear(st.queue[len(q):])
	st.queue = q
	st.recount()
	b.Cancel = append(b.Cancel, st.cancels...)
	st.cancels = st.cancels[:0]
	st.mu.Unlock()
	for _, r := range drop {
		e.finish(r, nil, nil) // abandoned: released
	}
	if len(b.Requests) == 0 && len(b.Cancel) == 0 {
		return nil, false, wait
	}
	return b, more, wait
}

// errReceiverExit ends a stream whose receiving goroutine a WaitCtx
// callback ended with runtime.Goexit; its requests go to another stream.
var errReceiverExit = errors.New("a WaitCtx callback called runtime.Goexit on the stream's receiver")

// receive reads result batches and completes their requests until the
// stream fails, and returns the stream's error.
func (st *stream) receive(cs signpb.Signer_SignClient) error {
	var got []*request
	for {
		rb, err := cs.Recv()
		if err != nil {
			return err
		}
		if l := rb.GetLimits(); l != nil {
			st.setLimits(l)
		}
		got = st.deliver(rb.GetResults(), got[:0])
	}
}

// deliver completes the requests that res answers, each only if it is
// still waiting in the stream's table under the answer's ID; other answers
// (late: for a request timed out, given up and answered, or failed over)
// are dropped. got is scratch space, returned for reuse.
func (st *stream) deliver(res []*signpb.SignResult, got []*request) []*request {
	if len(res) == 0 {
		return got
	}
	now := monoNow()
	st.mu.Lock()
	for _, x := range res {
		id := x.GetId()
		r := st.sent[id]
		switch {
		case r != nil:
			delete(st.sent, id)
			st.inFlight--
			st.inBytes -= r.wire
			st.learn(x, now)
		default:
			if size, ok := st.gone[id]; ok {
				delete(st.gone, id)
				st.inFlight--
				st.inBytes -= size
				st.learn(x, now)
			}
		}
		got = append(got, r)
	}
	room := len(st.queue) > 0 && !st.atBound(0, now)
	st.recount()
	st.mu.Unlock()
	if room {
		st.wakeSender()
	}
	st.answerAll(res, got)
	return got[:0]
}

// answerAll completes the requests in got (nil for an answer that found
// none) with the answers in res. If a WaitCtx callback calls
// runtime.Goexit, which ends this goroutine and cannot be stopped, the
// deferred call completes the rest of the batch first, so that none of
// them is lost.
func (st *stream) answerAll(res []*signpb.SignResult, got []*request) {
	e := st.srv.e
	i := 0
	defer func() {
		if i < len(got) { // got[i]'s callback did not return
			st.answerAll(res[i+1:], got[i+1:])
		}
	}()
	for ; i < len(got); i++ {
		r := got[i]
		got[i] = nil
		if r == nil {
			e.stats.discarded.Add(1)
			continue
		}
		e.answer(st, r, res[i])
	}
}

// takeAll empties the queue and the sent table and returns what they held.
// st.mu is held.
func (st *stream) takeAll() []*request {
	held := make([]*request, 0, len(st.queue)+len(st.sent))
	held = append(held, st.queue...)
	for id, r := range st.sent {
		held = append(held, r)
		delete(st.sent, id)
	}
	clear(st.queue)
	st.queue = st.queue[:0]
	st.cancels = st.cancels[:0]
	st.resetLimits()
	st.recount()
	return held
}

// failover sends the requests the failed stream held to other signers.
func (st *stream) failover(cause error) {
	st.mu.Lock()
	held := st.takeAll()
	st.mu.Unlock()
	if len(held) == 0 {
		return
	}
	e := st.srv.e
	e.stats.failovers.Add(1)
	each(held, func(r *request) { e.resend(r, st.srv, cause) })
}

// each calls f for each request of rs, even if f ends the goroutine with
// runtime.Goexit (a WaitCtx callback can): the deferred call goes on with
// the rest, so that none is lost.
func each(rs []*request, f func(*request)) {
	i := 0
	defer func() {
		if i < len(rs) { // f(rs[i]) did not return
			each(rs[i+1:], f)
		}
	}()
	for ; i < len(rs); i++ {
		f(rs[i])
	}
}
