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
type queue struct {
	mu    sync.Mutex
	cond  sync.Cond
	ring  []*op // ring[head], ..., ring[(head+n-1)%len(ring)]
	head  int
	n     int
	idle  int // workers waiting on cond
	delay time.Duration
	base  time.Time // op.due counts from here (monotonic)
	timer *time.Timer
	armed bool // timer is armed (for the head's due time or earlier)
	done  bool
}

func newQueue(delay time.Duration) *queue {
	q := &queue{delay: delay, base: time.Now(), ring: make([]*op, 256)}
	q.cond.L = &q.mu
	if delay > 0 {
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
	if q.delay > 0 {
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
		if q.delay == 0 {
			// One wakes; it wakes the next if there is more (see pop).
			q.cond.Signal()
		} else if !q.armed {
			q.arm(time.Since(q.base))
		}
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

// arm sets the timer for the head's due time; q.mu held, q.n > 0.
func (q *queue) arm(now time.Duration) {
	q.timer.Reset(q.ring[q.head].due - now)
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
			if q.delay > 0 {
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
