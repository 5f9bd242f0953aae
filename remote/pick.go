package remote

import "errors"

// Choosing a stream: each request goes to the least loaded stream of the
// signers that are up.

// dispatch hands r, which holds a slot, to the least loaded stream. On
// error r is still the caller's.
func (e *Engine) dispatch(r *request) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed.Load() {
		return ErrClosed
	}
	if err := e.place(r, nil); err != nil {
		return err
	}
	select {
	case e.busy <- struct{}{}:
	default:
	}
	return nil
}

// place hands r, which the engine holds, to the stream pick chooses,
// other than not's if it can. A stream whose signer left, and stopped
// taking requests, between the choice and the hand-over is passed over
// and another chosen. On error r is still the caller's.
func (e *Engine) place(r *request, not *signerConn) error {
	for {
		st, err := e.pick(not)
		if err != nil {
			return err
		}
		if st.enqueue(r) {
			return nil
		}
		if e.closed.Load() {
			return ErrClosed
		}
	}
}

// pick returns the least loaded stream of the signers that are up, other
// than not. If none is up, it returns the least loaded stream of those that
// have not refused this client's certificate (requests wait there for a
// connection, or their deadline); if every signer refused, it returns the
// refusal. With no signer at all (the targets resolved to no address, or
// not yet), it returns the lobby, where requests wait for one to join.
// Signers that are leaving are never chosen.
func (e *Engine) pick(not *signerConn) (*stream, error) {
	var best, fallback *stream
	var refusal error
	signers := e.current()
	start := int(e.ids.Load()) // vary the first choice among equals
	n := len(signers)
	for i := range n {
		s := signers[(start+i)%n]
		if s.leaving.Load() {
			continue
		}
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
	return e.lobby, nil
}

// errLeft is why a leaving signer's stream hands its requests on.
var errLeft = errors.New("the signer left: its target no longer resolves to it")
