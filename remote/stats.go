package remote

import "sync/atomic"

// Stats are the engine's counters since New.
type Stats struct {
	Sent        uint64 // requests sent (a request failed over is counted again)
	Batches     uint64 // request batches sent
	Answered    uint64 // answers received for requests still waiting for one
	Retries     uint64 // requests sent again after their signer failed
	Failovers   uint64 // streams that failed holding requests
	CancelsSent uint64 // request IDs sent for the signer to drop
	Expired     uint64 // requests ended by their ctx or deadline, not by an answer
	Discarded   uint64 // answers dropped: late, for a request already ended or moved
	Overloaded  uint64 // answers CODE_OVERLOADED (or an older signer's "full"): requests sent again once there was room
}

type counters struct {
	sent, batches, answered, retries, failovers, cancelsSent, expired, discarded, overloaded atomic.Uint64
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	c := &e.stats
	return Stats{
		Sent: c.sent.Load(), Batches: c.batches.Load(), Answered: c.answered.Load(),
		Retries: c.retries.Load(), Failovers: c.failovers.Load(), CancelsSent: c.cancelsSent.Load(),
		Expired: c.expired.Load(), Discarded: c.discarded.Load(), Overloaded: c.overloaded.Load(),
	}
}
