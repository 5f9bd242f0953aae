package signer

import (
	"sync"
	"sync/atomic"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// Defaults of the bounds in bytes (see Config.MaxMemory and
// Config.ClientMemory).
const (
	DefaultMaxMemory    = 512 << 20
	DefaultClientMemory = 64 << 20
)

// opOverhead is what the server holds for a request beyond its encoded
// size: the op, the decoded SignRequest, its place in the stream's table,
// and the answer's signature (512 bytes for RSA-4096). Every request is
// charged it, refused ones too, since their answers wait to be sent.
const opOverhead = 768

// client is one client identity (see identityOf): what every stream and
// call of that identity holds is counted here, and the scheduler gives
// it its fair share of the workers.
type client struct {
	id    string
	bytes atomic.Int64 // held for it: requests queued or in flight, answers unsent
	refs  int          // streams and calls of it running; Server.cmu
	// access is the keys it may use under the server's keyring, worked
	// out when the keyring first needs it (see keysFor).
	access atomic.Pointer[access]

	// The scheduler's, under queue.mu: the client's requests ready for a
	// worker, in order of arrival (ring), and its deficit (see queue).
	ring    []*op
	head, n int
	deficit int64
	active  bool // in the queue's round
}

// budget is the server's bound in bytes, the sum of what every client
// holds and the bound of each.
type budget struct {
	total     atomic.Int64
	connected atomic.Int32 // clients with streams or calls running
	waiting   atomic.Int32 // receivers waiting for room (see reserve)
	maxTotal  int64
	maxClient int64

	mu      sync.Mutex
	clients map[string]*client
	// freed is closed, and replaced, when a client or the server drops
	// below the mark at which full holds: streams waiting for that
	// wait for it.
	freed atomic.Pointer[chan struct{}]
}

func newBudget(maxTotal, maxClient int64) *budget {
	b := &budget{maxTotal: maxTotal, maxClient: maxClient, clients: map[string]*client{}}
	ch := make(chan struct{})
	b.freed.Store(&ch)
	return b
}

// join returns the client named id and counts one more stream or call of
// it; leave undoes that.
func (b *budget) join(id string) *client {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.clients[id]
	if c == nil {
		c = &client{id: id}
		b.clients[id] = c
	}
	if c.refs++; c.refs == 1 {
		b.connected.Add(1)
	}
	return c
}

// leave ends a stream or call of c. A client that holds nothing more is
// forgotten; one whose requests are still queued stays, so that a
// client cannot shed its debts by reconnecting.
func (b *budget) leave(c *client) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.refs--; c.refs == 0 {
		b.connected.Add(-1)
		if c.bytes.Load() == 0 {
			delete(b.clients, c.id)
		}
	}
}

// The bound a request would pass, as its refusal says it.
const (
	errClientFull = "the client's requests in flight and unread answers are at its bound in bytes"
	errServerFull = "the signer's memory for requests in flight is full"
	// errStreamBytes: MaxQueuedBytes (errFull, in keys.go, is MaxQueued).
	errStreamBytes = "the stream's requests in flight are at its bound in bytes"
)

// charge counts n more bytes held for c, and returns "" or, when that
// would take c or the server past its bound, which bound (and counts
// nothing). Racing charges may refuse where one alone would not; none
// ever takes a total past its bound.
func (b *budget) charge(c *client, n int64) string {
	if c.bytes.Add(n) > b.maxClient {
		c.bytes.Add(-n)
		return errClientFull
	}
	if b.total.Add(n) > b.maxTotal {
		b.total.Add(-n)
		c.bytes.Add(-n)
		return errServerFull
	}
	return ""
}

// force counts n more bytes held for c whatever the bounds: an answer
// to a refusal, which is sent and let go.
func (b *budget) force(c *client, n int64) {
	c.bytes.Add(n)
	b.total.Add(n)
}

// uncharge lets go of n bytes held for c.
func (b *budget) uncharge(c *client, n int64) {
	cb, tb := c.bytes.Add(-n), b.total.Add(-n)
	if b.waiting.Load() > 0 && b.maxTotal-tb >= recvReserve {
		// A receiver waits for room, and the server has some.
		b.free()
	} else if high := b.maxClient - b.maxClient/4; cb < high && cb+n >= high {
		b.free()
	} else if high := b.maxTotal - b.maxTotal/4; tb < high && tb+n >= high {
		b.free()
	}
}

// free wakes the streams that wait for a client or the server to hold
// less than the mark.
func (b *budget) free() {
	ch := make(chan struct{})
	b.mu.Lock()
	close(*b.freed.Swap(&ch))
	b.mu.Unlock()
}

// full reports whether c or the server holds three quarters of its
// bound or more: a stream that holds anything, or had a request refused
// for the bound, then stops reading until it holds less, so that a
// client that does not read its answers is held back by flow control
// rather than by refusals alone.
func (b *budget) full(c *client) bool {
	return c.bytes.Load() >= b.maxClient-b.maxClient/4 || b.total.Load() >= b.maxTotal-b.maxTotal/4
}

// access is the keys a client may use under one keyring, by ID.
type access struct {
	ring *keyring
	keys map[string]*key
}

// keysFor returns the keys c may use under r, by ID: what c's requests
// look their key up in, so that a request's authorization costs no more
// than the lookup every request makes anyway. It is worked out once per
// client and keyring: a Reload makes a new keyring, and the first request
// of each client after it works the client's keys out again.
func (c *client) keysFor(r *keyring) map[string]*key {
	if a := c.access.Load(); a != nil && a.ring == r {
		return a.keys
	}
	a := &access{ring: r, keys: r.allowed(c.id)}
	c.access.Store(a) // racing streams of c store the same answer
	return a.keys
}

// admitKey looks req's key up in view, the keys its client may use under
// r (see keysFor), and returns what signing req costs, or denied when r
// holds the key but the client may not use it (a key r does not hold is
// left for the worker to answer CODE_UNKNOWN_KEY).
func admitKey(r *keyring, view map[string]*key, req *pb.SignRequest) (c int64, denied *key) {
	k := view[req.GetKeyId()]
	if k == nil {
		return 0, deniedKey(r, view, req)
	}
	return costOf(k, req), nil
}

// deniedKey returns req's key when r holds it but view, the keys its
// client may use under r, does not; nil otherwise.
func deniedKey(r *keyring, view map[string]*key, req *pb.SignRequest) *key {
	if view[req.GetKeyId()] != nil {
		return nil
	}
	return r.keys[req.GetKeyId()]
}

// errDenied is the error of a request for a key its client may not use:
// it names neither the key nor the client, which the client knows.
const errDenied = "this client may not use this key"
