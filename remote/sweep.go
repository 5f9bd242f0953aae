package remote

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sweeping: ending the requests whose ctx is done or whose deadline has
// passed, with no timer per request.

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
		if e.inFlight() == 0 {
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
		for _, s := range e.current() {
			for _, st := range s.streams {
				due = st.sweep(monoNow(), due[:0])
				e.expire(s, st, due)
			}
		}
		due = e.lobby.sweep(monoNow(), due[:0])
		e.expire(e.lobby.srv, e.lobby, due)
		e.flushLobby()
	}
}

// expire completes the requests in due, whose time is up, and clears
// due, even if a callback ends the goroutine (see each).
func (e *Engine) expire(s *signerConn, st *stream, due []*request) {
	each(due, func(r *request) {
		if r.abandoned() {
			e.finish(r, nil, nil) // released
			return
		}
		e.stats.expired.Add(1)
		e.finish(r, nil, e.expiryError(s, st, r))
	})
	clear(due)
}

// expiryError returns the error of a request whose time is up: ctx's error;
// wrapped in ErrOverloaded if its signer was up but had no room for it,
// or in ErrUnavailable with the signer's last trouble if the request
// never reached a signer or its stream is down.
func (e *Engine) expiryError(s *signerConn, st *stream, r *request) error {
	cause := r.ctx.Err()
	if cause == nil {
		cause = context.DeadlineExceeded
	}
	switch {
	case cause != context.DeadlineExceeded:
	case r.noRoom.Load() && st.live.Load():
		return fmt.Errorf("%w: no room before the deadline: %w", ErrOverloaded, cause)
	case r.sends == 0 || !st.live.Load():
		return noAnswer(cause, s.trouble())
	}
	return fmt.Errorf("remote: %w", cause)
}

// noAnswer is the error of a request that had no answer by its deadline
// (cause) because no signer was up for it: ErrUnavailable, with the last
// trouble seen (nil: no connection made yet). The sweeper and a blocking
// caller both report it.
func noAnswer(cause, last error) error {
	if last == nil {
		last = errors.New("not connected yet")
	}
	return fmt.Errorf("%w: no answer in time: %w (last error: %w)", ErrUnavailable, cause, last)
}

// expired reports whether the engine should end r, which it holds: its
// deadline has passed, or its caller's ctx is done. A request its caller
// gave up waits for its answer, which frees its slot, but not past its
// deadline: a signer that never answers it does not keep the slot.
func expired(r *request, now int64) bool {
	return now >= r.expires || (!r.abandoned() && r.ctx.Err() != nil)
}

// sweep removes from the stream the requests whose time is up, and the
// queued ones whose caller gave them up, and appends them to due; it asks
// the signer to drop those it was sent, which stay in flight, against the
// stream's bounds, until the signer answers them.
func (st *stream) sweep(now int64, due []*request) []*request {
	st.mu.Lock()
	defer st.mu.Unlock()
	q := st.queue[:0]
	for _, r := range st.queue {
		// One given up is dropped here too, not only when a batch is
		// filled: the lobby fills none.
		if !expired(r, now) && !r.abandoned() {
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
		if !expired(r, now) {
			continue
		}
		delete(st.sent, id)
		st.gone[id] = r.wire
		st.cancels = append(st.cancels, id)
		due = append(due, r)
	}
	st.recount()
	if len(st.cancels) > 0 {
		st.wakeSender()
	}
	return due
}
