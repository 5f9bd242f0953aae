package remote

import "time"

// Draining: a signer its target no longer resolves to gets no new
// requests; those it holds are answered, or moved to another signer,
// and then its goroutines end and its connection closes.

// drainTimeout bounds how long a leaving signer may keep the requests it
// was sent unanswered: past it they are sent to another signer (signing
// is idempotent, and the first signer's late answers are dropped). A
// variable for the tests.
var drainTimeout = 5 * time.Second

// drainTick is how often a draining signer's queues are emptied and its
// requests in flight counted.
const drainTick = 2 * time.Millisecond

// leave starts draining s, whose target no longer names it.
func (s *signerConn) leave() {
	s.leaving.Store(true)
	s.e.wg.Add(1) // under the engine's lock shared: see target.update
	go s.drain()
}

// drain moves the requests s has not sent yet to other signers (a
// request picked for s just before it left may still be queued), until
// the requests it did send are answered or drainTimeout passes, and then
// retires s. A WaitCtx callback that ends the goroutine (runtime.Goexit,
// from a request that could not be moved and failed) does not skip the
// retirement.
func (s *signerConn) drain() {
	e := s.e
	defer e.wg.Done()
	defer s.retire()
	tick := time.NewTicker(drainTick)
	defer tick.Stop()
	end := time.Now().Add(drainTimeout)
	for {
		for _, st := range s.streams {
			each(st.takeQueued(), func(r *request) {
				if err := e.place(r, s); err != nil {
					e.finish(r, nil, err)
				}
			})
		}
		if s.idle() || time.Now().After(end) {
			return
		}
		select {
		case <-tick.C:
		case <-s.ctx.Done():
			return
		}
	}
}

// retire ends s's goroutines, whose streams hand what they still hold to
// other signers (or, if the engine is closed, fail it with ErrClosed),
// closes its connection and removes it from the engine's signers.
func (s *signerConn) retire() {
	s.stop()
	s.wg.Wait()
	s.closeConn()
	s.e.drop(s)
}

// idle reports whether s holds no request.
func (s *signerConn) idle() bool {
	for _, st := range s.streams {
		if st.load.Load() != 0 {
			return false
		}
	}
	return true
}

// takeQueued empties the stream's queue, of requests not yet sent, and
// returns what it held.
func (st *stream) takeQueued() []*request {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.queue) == 0 {
		return nil
	}
	held := append([]*request(nil), st.queue...)
	clear(st.queue)
	st.queue = st.queue[:0]
	st.recount()
	return held
}
