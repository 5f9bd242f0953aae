//go:build linux

package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/seed-e1024768/async/internal/signpb"
)

// maxSends bounds how many times one request is sent to signers that then
// failed (or shut down) before the engine gives up on it with
// ErrUnavailable. Refusals for want of room do not count: they are
// retried until the request's deadline.
const maxSends = 8

// dispatch hands r, which holds a slot, to the least loaded stream. On
// error r is still the caller's.
func (e *Engine) dispatch(r *request) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed.Load() {
		return ErrClosed
	}
	st, err := e.pick(nil)
	if err != nil {
		return err
	}
	if !st.enqueue(r) {
		return ErrClosed
	}
	select {
	case e.busy <- struct{}{}:
	default:
	}
	return nil
}

// pick returns the least loaded stream of the signers that are up, other
// than not. If none is up, it returns the least loaded stream of those that
// have not refused this client's certificate (requests wait there for a
// connection, or their deadline); if every signer refused, it returns the
// refusal.
func (e *Engine) pick(not *server) (*stream, error) {
	var best, fallback *stream
	var refusal error
	start := int(e.ids.Load()) // vary the first choice among equals
	n := len(e.servers)
	for i := range n {
		s := e.servers[(start+i)%n]
		up := s.up()
		if s.refused.Load() && !up {
			if refusal == nil {
				if refusal = s.trouble(); refusal == nil { // cleared meanwhile
					refusal = ErrRefused
				}
			}
			continue
		}
		for _, st := range s.streams {
			if up && s != not && st.live.Load() && (best == nil || st.load.Load() < best.load.Load()) {
				best = st
			}
			if fallback == nil || (fallback.srv == not && s != not) ||
				((fallback.srv == not) == (s == not) && st.load.Load() < fallback.load.Load()) {
				fallback = st
			}
		}
	}
	switch {
	case best != nil:
		return best, nil
	case fallback != nil:
		return fallback, nil
	case refusal != nil:
		return nil, refusal
	}
	return nil, fmt.Errorf("remote: %w", errNoServer)
}

// finish ends the engine's hold on r: it frees r's slot and completes r
// with sig or err (or releases it, if its caller gave it up). A WaitCtx
// callback is called here, on the calling goroutine, as package engine
// says; if it calls runtime.Goexit, finish does not return, and the
// goroutine's own deferred calls (see stream.answerAll and
// Engine.sweeper) finish its work and replace it if need be.
func (e *Engine) finish(r *request, sig []byte, err error) {
	<-e.slots
	r.sig, r.err = sig, err
	e.k.Complete(r)
}

// resend sends r, which the engine holds, to another signer than from
// after from failed with cause; or completes it if it was given up, the
// engine is closed, or its signers failed too often.
func (e *Engine) resend(r *request, from *server, cause error) {
	r.failed++
	switch {
	case r.abandoned():
		e.finish(r, nil, nil)
		return
	case e.closed.Load():
		e.finish(r, nil, ErrClosed)
		return
	case r.failed >= maxSends:
		e.finish(r, nil, fmt.Errorf("remote: sent %d times, to signers that failed: %w: %w", r.failed, ErrUnavailable, cause))
		return
	}
	st, err := e.pick(from)
	if err != nil {
		e.finish(r, nil, err)
		return
	}
	if r.sends > 0 {
		e.stats.retries.Add(1)
	}
	if !st.enqueue(r) {
		e.finish(r, nil, ErrClosed)
	}
}

// retry queues r, which a signer refused for want of room, again: on the
// least loaded stream, which sends it once there is room (see
// stream.learn), within its deadline.
func (e *Engine) retry(r *request) {
	r.noRoom.Store(true)
	switch {
	case r.abandoned():
		e.finish(r, nil, nil)
		return
	case e.closed.Load():
		e.finish(r, nil, ErrClosed)
		return
	}
	st, err := e.pick(nil)
	if err != nil {
		e.finish(r, nil, err)
		return
	}
	if !st.enqueue(r) {
		e.finish(r, nil, ErrClosed)
	}
}

// answer completes r, which the engine holds, with the signer's result
// on stream st.
func (e *Engine) answer(st *stream, r *request, res *signpb.SignResult) {
	from := st.srv
	if r.abandoned() {
		e.stats.discarded.Add(1)
		e.finish(r, nil, nil)
		return
	}
	if st.isOverload(res) {
		// Back-pressure, not failure: send it again when there is room.
		e.stats.overloaded.Add(1)
		e.retry(r)
		return
	}
	e.stats.answered.Add(1)
	if res.GetCode() == signpb.Code_CODE_UNAVAILABLE {
		// The signer is shutting down: another will do.
		e.resend(r, from, fmt.Errorf("%s: %s", from.addr, res.GetError()))
		return
	}
	e.finish(r, res.GetSignature(), codeError(from.addr, res))
}

// codeError returns the error that res reports, nil for CODE_OK.
func codeError(addr string, res *signpb.SignResult) error {
	var err error
	switch res.GetCode() {
	case signpb.Code_CODE_OK:
		return nil
	case signpb.Code_CODE_UNKNOWN_KEY:
		err = ErrUnknownKey
	case signpb.Code_CODE_BAD_REQUEST:
		err = ErrBadInput
	case signpb.Code_CODE_DEADLINE_EXCEEDED:
		err = context.DeadlineExceeded
	case signpb.Code_CODE_CANCELED:
		err = context.Canceled
	case signpb.Code_CODE_UNAVAILABLE:
		err = ErrUnavailable
	case signpb.Code_CODE_OVERLOADED:
		err = ErrOverloaded
	default:
		err = ErrSigner
	}
	return &SignerError{Addr: addr, Code: res.GetCode().String(), Msg: res.GetError(), err: err}
}

// isRequestError reports whether err is about the request itself, which
// another signer would refuse too.
func isRequestError(err error) bool {
	return errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrBadInput)
}

// SignerError is a signer's refusal to sign a request. It wraps the
// package's error for its code: ErrUnknownKey, ErrBadInput, ErrSigner,
// context.DeadlineExceeded or context.Canceled.
type SignerError struct {
	Addr string // the signer's address
	Code string // the wire code, such as "CODE_UNKNOWN_KEY"
	Msg  string // the signer's explanation
	err  error
}

func (e *SignerError) Error() string {
	return fmt.Sprintf("remote: signer %s: %s: %v", e.Addr, e.Msg, e.err)
}

func (e *SignerError) Unwrap() error { return e.err }

// sweepInterval is how often the sweeper looks for requests whose caller's
// ctx is done or whose deadline has passed.
const sweepInterval = time.Millisecond

// sweeper ends the requests whose time is up, so that no operation needs a
// timer of its own: every sweepInterval while any request is in flight it
// walks the streams, completes each request whose ctx is done or whose
// deadline has passed, and tells its signer to drop it. While nothing is in
// flight it sleeps.
//
// Completing a request may call a WaitCtx callback on this goroutine,
// which may end it with runtime.Goexit. Then expire goes on with the rest
// of what was due (see each), and the deferred call here starts a new
// sweeper, so that later deadlines are still kept.
func (e *Engine) sweeper() {
	exited := true
	defer func() {
		if exited && e.ctx.Err() == nil {
			e.wg.Add(1) // before Done: Close's Wait cannot return between
			go e.sweeper()
		}
		e.wg.Done()
	}()
	t := time.NewTimer(sweepInterval)
	defer t.Stop()
	var due []*request
	for {
		if len(e.slots) == 0 {
			select {
			case <-e.busy:
			case <-e.ctx.Done():
				exited = false
				return
			}
		}
		t.Reset(sweepInterval)
		select {
		case <-t.C:
		case <-e.ctx.Done():
			exited = false
			return
		}
		for _, s := range e.servers {
			for _, st := range s.streams {
				due = st.sweep(monoNow(), due[:0])
				e.expire(s, st, due)
			}
		}
	}
}

// expire completes the requests in due, whose time is up, and clears
// due, even if a callback ends the goroutine (see each).
func (e *Engine) expire(s *server, st *stream, due []*request) {
	each(due, func(r *request) {
		if r.abandoned() {
			e.finish(r, nil, nil) // released
			return
		}
		e.stats.expired.Add(1)
		e.finish(r, nil, e.timeUp(s, st, r))
	})
	clear(due)
}

// timeUp returns the error of a request whose time is up: ctx's error;
// wrapped in ErrOverloaded if its signer was up but had no room for it,
// or in ErrUnavailable with the signer's last trouble if the request
// never reached a signer or its stream is down.
func (e *Engine) timeUp(s *server, st *stream, r *request) error {
	cause := r.ctx.Err()
	if cause == nil {
		cause = context.DeadlineExceeded
	}
	switch {
	case cause != context.DeadlineExceeded:
	case r.noRoom.Load() && st.live.Load():
		return fmt.Errorf("%w: no room before the deadline: %w", ErrOverloaded, cause)
	case r.sends == 0 || !st.live.Load():
		last := s.trouble()
		if last == nil {
			last = errors.New("not connected yet")
		}
		return fmt.Errorf("%w: no answer in time: %w (last error: %w)", ErrUnavailable, cause, last)
	}
	return fmt.Errorf("remote: %w", cause)
}

// timeIsUp reports whether the engine should end r, which it holds: its
// deadline has passed, or its caller's ctx is done. A request its caller
// gave up waits for its answer, which frees its slot, but not past its
// deadline: a signer that never answers it does not keep the slot.
func timeIsUp(r *request, now int64) bool {
	return now >= r.expires || (!r.abandoned() && r.ctx.Err() != nil)
}

// sweep removes from the stream the requests whose time is up and appends
// them to due; it asks the signer to drop those it was sent, which stay in
// flight, against the stream's bounds, until the signer answers them.
func (st *stream) sweep(now int64, due []*request) []*request {
	st.mu.Lock()
	defer st.mu.Unlock()
	q := st.queue[:0]
	for _, r := range st.queue {
		if !timeIsUp(r, now) {
			q = append(q, r)
			continue
		}
		if st.live.Load() && st.atBound(int64(len(r.payload)+len(r.keyID)+32), now) {
			r.noRoom.Store(true)
		}
		due = append(due, r)
	}
	clear(st.queue[len(q):])
	st.queue = q
	for id, r := range st.sent {
		if !timeIsUp(r, now) {
			continue
		}
		delete(st.sent, id)
		st.gone[id] = r.wire
		st.cancels = append(st.cancels, id)
		due = append(due, r)
	}
	st.load.Add(-int32(len(due)))
	if len(st.cancels) > 0 {
		st.wake()
	}
	return due
}
