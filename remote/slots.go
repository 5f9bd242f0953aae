package remote

import (
	"context"
	"fmt"
)

// The engine's bound on requests in flight (Config.MaxInFlight) is a
// channel of tokens, e.slots: a request holds one from the moment it is
// submitted until the engine lets go of it (finish). These are the only
// places that take and give them.

// trySlot takes a slot if one is free.
func (e *Engine) trySlot() bool {
	select {
	case e.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

// waitSlot takes a slot, waiting for one until ctx is done (its error,
// wrapped) or the engine closed (ErrClosed).
func (e *Engine) waitSlot(ctx context.Context) error {
	if e.trySlot() {
		return nil
	}
	select {
	case e.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("remote: waiting for room to send: %w", ctx.Err())
	case <-e.ctx.Done():
		return ErrClosed
	}
}

// freeSlot gives a slot back.
func (e *Engine) freeSlot() { <-e.slots }

// inFlight reports how many requests hold a slot.
func (e *Engine) inFlight() int { return len(e.slots) }
