package signd

import (
	"sync"
	"time"
)

// queue is the server's one queue of requests waiting for a worker, in
// order of arrival. Every request waits at least the same delay, so the
// order of arrival is also the order in which they come due, and the
// head is always the first due: one timer, armed for the head, serves
// the whole queue, and a worker that finds nothing due sleeps on a
// condition variable, using no CPU.
//
// The runtime's timers fire up to a millisecond late here (the scheduler
// waits for them in whole milliseconds), which would add half a
// millisecond to every delayed answer on average. So the timer is armed
// for a little before the head comes due, and the worker it wakes sleeps
// the rest in the kernel (sleepPrecisely), which is late by tens of
// microseconds.
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
// leave the rest to sleepPrecisely: more than the timer can be late.
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
		if q.n > 0 {
			var now time.Duration
			if q.timed {
				now = time.Since(q.base)
			}
			if o := q.ring[q.head]; o.due <= now {
				q.ring[q.head] = nil
				q.head = (q.head + 1) % len(q.ring)
				q.n--
				if q.n > 0 && q.idle > 0 {
					q.cond.Signal()
				}
				return o
			}
			if !q.armed {
				if wait := q.ring[q.head].due - now; wait <= preciseSpan {
					// Sleep the rest here; nobody else needs to.
					q.armed = true
					q.mu.Unlock()
					sleepPrecisely(wait)
					q.mu.Lock()
					q.armed = false
					continue
				}
				q.arm(now)
			}
		}
		q.idle++
		q.cond.Wait()
		q.idle--
	}
	return nil
}

// close wakes every worker to return; the ops still queued are dropped.
func (q *queue) close() {
	q.mu.Lock()
	q.done = true
	q.cond.Broadcast()
	if q.timer != nil {
		q.timer.Stop()
	}
	q.mu.Unlock()
}
