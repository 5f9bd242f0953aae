package offload

import "sync/atomic"

// ring is the engine's bounded request queue: many jobs put, many workers
// take, and neither takes a lock (the channel it replaces cost a contended
// runtime lock on both sides of every request).
//
// It is a sequence-numbered array queue. Each cell's seq says whose turn
// the cell is: seq == pos means it is free for the put that claims
// position pos, seq == pos+1 that it holds that put's request for the take
// that claims pos, and the take frees it for position pos+len(cells).
// Claiming a position is a compare-and-swap of tail or head; the cell's
// seq, stored after the request is written or read, hands the cell over.
//
// The cells are a power of two in number, at least depth and at least 2;
// put refuses when depth requests are queued, so the ring holds no more
// than Config.Depth. One cell would not do: its seq after a take,
// pos+1, would also say that it holds the put of pos's request, so a put
// could claim it while the take that claimed pos had yet to read it.
type ring struct {
	cells []cell
	mask  uint64
	depth uint64

	_    [64]byte // keep the puts' and the takes' counters apart
	tail atomic.Uint64
	_    [56]byte
	head atomic.Uint64
	_    [56]byte
}

type cell struct {
	seq atomic.Uint64
	r   *request // written before seq hands the cell over, read after
}

// newRing makes a ring of depth requests; depth is 1 to MaxDepth, so the
// rounding up cannot overflow.
func newRing(depth int) *ring {
	n := 2
	for n < depth {
		n <<= 1
	}
	q := &ring{cells: make([]cell, n), mask: uint64(n - 1), depth: uint64(depth)}
	for i := range q.cells {
		q.cells[i].seq.Store(uint64(i))
	}
	return q
}

// put queues r, reporting false if the ring holds depth requests already.
// A put racing with takes may see the ring fuller than it is, never
// emptier.
func (q *ring) put(r *request) bool {
	pos := q.tail.Load()
	for {
		if int64(pos-q.head.Load()) >= int64(q.depth) { // pos may be stale
			return false
		}
		c := &q.cells[pos&q.mask]
		switch seq := c.seq.Load(); {
		case seq == pos:
			if q.tail.CompareAndSwap(pos, pos+1) {
				c.r = r
				c.seq.Store(pos + 1)
				return true
			}
			pos = q.tail.Load()
		case seq < pos:
			// The cell's previous request is still being taken: full.
			return false
		default:
			pos = q.tail.Load() // another put took pos
		}
	}
}

// take removes the oldest request, or returns nil if there is none ready.
func (q *ring) take() *request {
	pos := q.head.Load()
	for {
		c := &q.cells[pos&q.mask]
		switch seq := c.seq.Load(); {
		case seq == pos+1:
			if q.head.CompareAndSwap(pos, pos+1) {
				r := c.r
				c.r = nil
				c.seq.Store(pos + q.mask + 1)
				return r
			}
			pos = q.head.Load()
		case seq < pos+1:
			return nil // empty, or its put is not done yet
		default:
			pos = q.head.Load() // another take took pos
		}
	}
}

// empty reports whether no request is queued (a snapshot).
func (q *ring) empty() bool { return q.tail.Load() == q.head.Load() }
