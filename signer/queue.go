package signer

import (
	"slices"
	"sync"
	"time"
)

// queue holds ops for the workers: the requests waiting to be signed,
// or the answers waiting for their Delay to pass.
//
// Ops first wait for their due time in one ring, in order of arrival.
// Every request waits the same delay, so the order of arrival is also
// the order in which they come due, and the head is always the first
// due: one timer, armed for the head, serves the whole ring, and a
// worker that finds nothing due sleeps on a condition variable, using
// no CPU.
//
// The runtime's timers fire up to a millisecond late here (the scheduler
// waits for them in whole milliseconds), which would add half a
// millisecond to every delayed answer on average. So the timer is armed
// for a little before the head comes due, and the worker it wakes sleeps
// the rest on a timerfd (preciseSleep), which is late by tens of
// microseconds.
//
// A fair queue (the requests') then shares the workers between clients:
// an op that has come due moves to its client's own ring, and workers
// take from the clients in turn by deficit round robin, each turn
// worth a quantum of signing cost (see cost), so that each client with
// requests ready gets an equal share of the signing time, however many
// requests, streams or connections it has, and a client with a single
// request waits for at most one turn of each other client.
type queue struct {
	mu    sync.Mutex
	cond  sync.Cond
	ring  []*op // ring[head], ..., ring[(head+n-1)%len(ring)]
	head  int
	n     int
	idle  int // workers waiting on cond
	delay time.Duration
	timed bool      // ops wait for their due time: delay > 0, or pushDue
	base  time.Time // op.due counts from here (monotonic)
	timer *time.Timer
	armed bool // timer is armed, or a worker sleeps, for the head's due time
	done  bool
	// precise is what a worker sleeps on for the head's last preciseSpan.
	precise preciseSleep

	// The fair queue's round: clients with ops ready, whose turn it is
	// (active[turn]), and whether it has had its quantum this turn.
	fair    bool
	quantum int64
	active  []*client
	turn    int
	topped  bool
	ready   int // ops in the clients' rings
}

// newQueue makes a queue whose ops come due delay after they are
// pushed, counting time from base. A timed queue looks at the ops' due
// times; an untimed one (no delay, and no pushDue) hands them out at once.
func newQueue(base time.Time, delay time.Duration, timed bool) *queue {
	q := &queue{delay: delay, timed: timed || delay > 0, base: base, ring: make([]*op, 256)}
	q.cond.L = &q.mu
	if q.timed {
		q.timer = time.AfterFunc(time.Hour, q.wake)
		q.timer.Stop()
	}
	return q
}

// newFairQueue makes a queue, as newQueue does, that shares the workers
// between the ops' clients, a quantum of cost per turn (see quantum: an
// op that costs more than a turn waits for its client to save up the
// credit of several turns).
// Every op pushed must have a client.
func newFairQueue(base time.Time, delay time.Duration, quantum int64) *queue {
	q := newQueue(base, delay, false)
	q.fair, q.quantum = true, quantum
	return q
}

// wake is the timer's function: the head has come due, wake a worker.
func (q *queue) wake() {
	q.mu.Lock()
	q.armed = false
	q.cond.Signal()
	q.mu.Unlock()
}

// push queues ops, all arrived now.
func (q *queue) push(ops ...*op) {
	if len(ops) == 0 {
		return
	}
	q.mu.Lock()
	if q.fair && !q.timed {
		for _, o := range ops {
			q.ready1(o)
		}
	} else {
		var due time.Duration
		if q.timed {
			due = time.Since(q.base) + q.delay
		}
		for _, o := range ops {
			o.due = due
			if q.n == len(q.ring) {
				q.grow()
			}
			q.ring[(q.head+q.n)%len(q.ring)] = o
			q.n++
		}
	}
	if q.idle > 0 {
		if !q.timed {
			// One wakes; it wakes the next if there is more (see pop).
			q.cond.Signal()
		} else if !q.armed {
			q.arm(time.Since(q.base))
		}
	}
	q.mu.Unlock()
}

// ready1 puts o, come due, in its client's ring, and the client in the
// round; q.mu held.
func (q *queue) ready1(o *op) {
	c := o.cl
	if c.n == len(c.ring) {
		r := make([]*op, max(16, 2*len(c.ring)))
		for i := range c.n {
			r[i] = c.ring[(c.head+i)%len(c.ring)]
		}
		c.ring, c.head = r, 0
	}
	c.ring[(c.head+c.n)%len(c.ring)] = o
	c.n++
	q.ready++
	if !c.active {
		c.active = true
		q.active = append(q.active, c)
	}
}

// next takes the op whose turn it is, by deficit round robin; q.mu
// held, q.ready > 0.
func (q *queue) next() *op {
	for {
		c := q.active[q.turn]
		if !q.topped {
			c.deficit += q.quantum
			q.topped = true
		}
		if o := c.ring[c.head]; o.cost <= c.deficit {
			c.deficit -= o.cost
			c.ring[c.head] = nil
			c.head = (c.head + 1) % len(c.ring)
			c.n--
			q.ready--
			if c.n == 0 {
				// Out of the round; credit is not saved up.
				c.active, c.deficit, c.head = false, 0, 0
				q.active = slices.Delete(q.active, q.turn, q.turn+1)
				q.topped = false
				if q.turn == len(q.active) {
					q.turn = 0
				}
			}
			return o
		}
		q.turn = (q.turn + 1) % len(q.active)
		q.topped = false
	}
}

// pushDue queues o, which comes due at o.due (counted from base, like
// the queue's own). Ops pushed this way arrive nearly in order of their
// due times, so o is put in its place from the tail.
func (q *queue) pushDue(o *op) {
	q.mu.Lock()
	if q.n == len(q.ring) {
		q.grow()
	}
	i := q.n
	for ; i > 0 && q.ring[(q.head+i-1)%len(q.ring)].due > o.due; i-- {
		q.ring[(q.head+i)%len(q.ring)] = q.ring[(q.head+i-1)%len(q.ring)]
	}
	q.ring[(q.head+i)%len(q.ring)] = o
	q.n++
	if q.idle > 0 && !q.armed {
		q.cond.Signal() // a waiter arms for the head, or sleeps for it
	}
	q.mu.Unlock()
}

func (q *queue) grow() {
	r := make([]*op, 2*len(q.ring))
	for i := range q.n {
		r[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = r, 0
}

// preciseSpan is how long before the head comes due its timer fires, to
// leave the rest to preciseSleep: more than the timer can be late.
const preciseSpan = 2 * time.Millisecond

// arm sets the timer for a little before the head's due time; q.mu held,
// q.n > 0.
func (q *queue) arm(now time.Duration) {
	q.timer.Reset(q.ring[q.head].due - now - preciseSpan)
	q.armed = true
}

// pop waits for an op to come due and takes it; it returns nil once the
// queue is closed.
func (q *queue) pop() *op {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.done {
		var now time.Duration
		if q.timed && q.n > 0 {
			now = time.Since(q.base)
		}
		if q.fair {
			// What has come due joins its client's turn.
			for q.n > 0 && q.ring[q.head].due <= now {
				q.ready1(q.take())
			}
			if q.ready > 0 {
				o := q.next()
				if (q.ready > 0 || q.n > 0) && q.idle > 0 {
					q.cond.Signal()
				}
				return o
			}
		} else if q.n > 0 && q.ring[q.head].due <= now {
			o := q.take()
			if q.n > 0 && q.idle > 0 {
				q.cond.Signal()
			}
			return o
		}
		if q.n > 0 && !q.armed {
			if wait := q.ring[q.head].due - now; wait <= preciseSpan {
				// Sleep the rest here; nobody else needs to.
				q.armed = true
				q.precise.prepare()
				q.mu.Unlock()
				q.precise.sleep(wait)
				q.mu.Lock()
				q.armed = false
				continue
			}
			q.arm(now)
		}
		q.idle++
		q.cond.Wait()
		q.idle--
	}
	return nil
}

// take takes the ring's head; q.mu held, q.n > 0.
func (q *queue) take() *op {
	o := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	return o
}

// close wakes every worker to return; the ops still queued are dropped.
func (q *queue) close() {
	q.mu.Lock()
	q.done = true
	q.cond.Broadcast()
	if q.timer != nil {
		q.timer.Stop()
	}
	q.precise.close()
	q.mu.Unlock()
}
