package remote

import "fmt"

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
func (e *Engine) pick(not *signerConn) (*stream, error) {
	var best, fallback *stream
	var refusal error
	start := int(e.ids.Load()) // vary the first choice among equals
	n := len(e.signers)
	for i := range n {
		s := e.signers[(start+i)%n]
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
