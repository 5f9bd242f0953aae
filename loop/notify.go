//go:build linux

package loop

import (
	"encoding/binary"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// notifier is the part of the loop other goroutines touch: engines'
// completion goroutines through the slots' callbacks and the wait fds the
// loop watches, and the context's AfterFunc. They queue or flag what they
// have to say and wake the loop, on its channel or by writing its
// eventfd, which is in the loop's epoll set, as it sleeps.
type notifier struct {
	canceled atomic.Bool  // ctx is done; read by the loop every round
	pending  atomic.Int32 // len(queue), for the loop to look at without the lock
	asleep   atomic.Bool  // parked != awake, for Signaled to look at without the lock

	// kick wakes a loop parked on it, with no fd armed: a post readies
	// the loop goroutine directly, with no system call and without the
	// netpoller (see loop.wait).
	kick chan struct{}

	mu     sync.Mutex
	parked parking // how the loop sleeps, if it does: how a post wakes it
	closed bool    // efd is closed: late callbacks do nothing
	efd    int     // immutable until closed
	queue  []int32 // slots whose callback was called, not yet taken
	queued []bool  // per slot: in queue
}

// parking is how the loop sleeps.
type parking uint8

const (
	awake   parking = iota
	onEpoll         // in the netpoller, on the epoll set: write efd
	onChan          // on kick: send on it
)

// one is the eventfd counter increment, in host byte order.
var one = func() (b [8]byte) {
	binary.NativeEndian.PutUint64(b[:], 1)
	return b
}()

func newNotifier(slots int) (*notifier, error) {
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	return &notifier{efd: efd, kick: make(chan struct{}, 1), queue: make([]int32, 0, slots), queued: make([]bool, slots)}, nil
}

// post queues slot idx and, if the loop sleeps and the queue was empty,
// wakes it. A loop that is awake finds the queue by itself (see pending),
// so most posts make no system call. Each slot is queued at most once, so
// the queue never grows past its capacity.
func (n *notifier) post(idx int32) bool {
	n.mu.Lock() // no defer: this is every callback's path
	if n.closed {
		n.mu.Unlock()
		return false
	}
	if !n.queued[idx] {
		n.queued[idx] = true
		n.queue = append(n.queue, idx)
		n.pending.Store(int32(len(n.queue)))
		if len(n.queue) == 1 {
			n.wakeLocked()
		}
	}
	n.mu.Unlock()
	return true
}

// Signaled wakes the loop, if it sleeps, for a wait fd it watches (see
// fdEntry.bell): it is the fd's wake.Watcher. A loop that is awake looks
// at its watched fds before it sleeps, after it says it does (see
// loop.wait), so Signaled, which comes after the fd's count went up,
// takes the lock only for a loop that may sleep already: the engine's
// goroutines signal on every completion, and would otherwise contend
// with the loop for the lock.
func (n *notifier) Signaled() {
	if !n.asleep.Load() {
		return
	}
	n.mu.Lock()
	if !n.closed {
		n.wakeLocked()
	}
	n.mu.Unlock()
}

// sleep marks the loop as going to sleep as how says, so that posts wake
// it; it reports false, marking nothing, when there is something to do
// already.
func (n *notifier) sleep(how parking) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.queue) > 0 || n.canceled.Load() {
		return false
	}
	n.parked = how
	n.asleep.Store(true)
	return true
}

// awake marks the loop as awake again.
func (n *notifier) awake() {
	n.mu.Lock()
	n.parked = awake
	n.asleep.Store(false)
	n.mu.Unlock()
}

// unsleep marks the loop as awake again after it went to sleep(onChan)
// and found something to do before it blocked: it takes back the kick a
// post may have sent meanwhile, which would end the next sleep at once.
func (n *notifier) unsleep() {
	n.awake()
	select {
	case <-n.kick:
	default:
	}
}

// take swaps the queue for buf (empty, with the queue's capacity) and
// returns the queued slots.
func (n *notifier) take(buf []int32) []int32 {
	n.mu.Lock()
	q := n.queue
	for _, i := range q {
		n.queued[i] = false
	}
	n.queue = buf
	n.pending.Store(0)
	n.mu.Unlock()
	return q
}

// cancel is the context's AfterFunc.
func (n *notifier) cancel() {
	n.canceled.Store(true)
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.wakeLocked()
	}
}

// wakeLocked wakes the loop if it sleeps. The caller holds mu, so efd is
// open.
func (n *notifier) wakeLocked() {
	switch n.parked {
	case onEpoll:
		// The write cannot block (the counter would have to near 2^64),
		// and a failure could only mean a wake-up is pending already.
		unix.Write(n.efd, one[:])
	case onChan:
		// The loop takes one kick for each sleep; a second wake of the
		// same sleep finds the buffer full, and is not needed.
		select {
		case n.kick <- struct{}{}:
		default:
		}
	}
}

func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		unix.Close(n.efd)
	}
}

// slotRef is the argument of a slot's callback.
type slotRef struct {
	n   *notifier
	idx int32
}

// Signaled queues the slot, as its callback does: it is the watcher of
// the slot's WaitCtx for the watched fds it lists (see wake.FD.WatchFor).
func (r *slotRef) Signaled() { r.n.post(r.idx) }

// notifySlot is every slot's async.CallbackFunc: it queues the slot for the
// loop to resume. It takes a mutex briefly and makes at most one
// non-blocking write; it returns 0 when the loop has ended, else 1.
func notifySlot(arg any) int {
	r, ok := arg.(*slotRef)
	if !ok || !r.n.post(r.idx) {
		return 0
	}
	return 1
}
