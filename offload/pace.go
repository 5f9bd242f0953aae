package offload

import (
	"runtime"
	"time"
)

// yieldAfter is how long a worker runs requests back to back before it
// yields to the application: long enough that small requests do not pay a
// trip through the scheduler each, short enough that the application's
// goroutine runs well before the runtime would preempt a worker.
const yieldAfter = 20 * time.Microsecond

// maxEvery bounds how many requests a worker runs between looks at the
// clock, and so how late it yields when its requests turn from short to
// long: by at most maxEvery of the long ones, once.
const maxEvery = 8

// pacer makes a worker that runs requests back to back yield every
// yieldAfter: without a yield the application's goroutine, when every P is
// running a worker, would wait for the runtime's 10ms preemption to run
// again, and yielding after every request would cost more than a small
// request. Reading the clock costs about as much as a request that does
// no work, so the pacer reads it only every few requests: up to maxEvery,
// while batches take under a sixteenth of yieldAfter, and every request
// again as soon as one batch takes over an eighth. A pacer belongs to one
// worker.
type pacer struct {
	since time.Time // the worker last parked or yielded (about)
	last  time.Time // the clock was last read
	every int       // requests between reads of the clock, 1 to maxEvery
	count int       // requests since the last read
	fresh bool      // restarted since the last read: since is stale
}

// restart notes that the worker has just parked or yielded. It does not
// read the clock: a worker that finds one request after each yield would
// pay for the read on every request. The next read dates the restart, late
// by at most a batch.
func (p *pacer) restart() {
	p.fresh = true
	p.count = 0
}

// tick is called before each request run back to back with the previous
// one; it yields if the worker has run for yieldAfter.
func (p *pacer) tick() {
	if p.count++; p.count < p.every {
		return
	}
	now := time.Now()
	p.count = 0
	if p.fresh {
		p.since, p.last, p.fresh = now, now, false
		p.every = max(p.every, 1)
		return
	}
	switch batch := now.Sub(p.last); {
	case batch < yieldAfter/16 && p.every < maxEvery:
		p.every *= 2
	case batch > yieldAfter/8:
		p.every = 1
	}
	p.last = now
	if now.Sub(p.since) >= yieldAfter {
		runtime.Gosched()
		p.restart()
	}
}
