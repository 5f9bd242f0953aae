package remote

import (
	"sync/atomic"

	"github.com/seed-e1024768/async/internal/signpb"
)

// Stats are the engine's counters since New: what the engine's client
// sees of its signers, as Stats and Signers return it. Package remote
// imports no metrics library; package remote/remotemetrics turns these
// into a prometheus.Collector, and a program with another library reads
// them the same way, each time it is scraped.
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
	Denied      uint64 // answers CODE_PERMISSION_DENIED: the signer's policy does not let this client use the key
}

type counters struct {
	sent, batches, answered, retries, failovers, cancelsSent, expired, discarded, overloaded, denied atomic.Uint64
}

// noteAnswer counts an answer by its code, beyond answered.
func (c *counters) noteAnswer(code signpb.Code) {
	if code == signpb.Code_CODE_PERMISSION_DENIED {
		c.denied.Add(1)
	}
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	c := &e.stats
	return Stats{
		Sent: c.sent.Load(), Batches: c.batches.Load(), Answered: c.answered.Load(),
		Retries: c.retries.Load(), Failovers: c.failovers.Load(), CancelsSent: c.cancelsSent.Load(),
		Expired: c.expired.Load(), Discarded: c.discarded.Load(), Overloaded: c.overloaded.Load(),
		Denied: c.denied.Load(),
	}
}

// SignerStats is what the engine knows of one signer now.
type SignerStats struct {
	Addr string // as Config.Addrs gives it
	// Outstanding counts the requests the engine has queued for the
	// signer or sent to it and not yet had answered: what it balances
	// the signers by.
	Outstanding int
	Up          bool // a stream is open and the health check passes: it gets new requests
	Refused     bool // the last trouble with it was a refusal of this client's certificate
}

// Signers returns what the engine knows of each of its signers now: every
// address its targets resolve to, in the order of Config.Addrs and then of
// each resolver's answer. Each call allocates its slice: call it when
// scraped, not per request.
func (e *Engine) Signers() []SignerStats {
	signers := e.current()
	out := make([]SignerStats, len(signers))
	for i, s := range signers {
		n := 0
		for _, st := range s.streams {
			n += int(st.load.Load())
		}
		out[i] = SignerStats{Addr: s.addr, Outstanding: n, Up: s.up(), Refused: s.refused.Load()}
	}
	return out
}
