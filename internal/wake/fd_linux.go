//go:build linux

package wake

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
)

// FD is an engine's wait fd: an eventfd, shared by every WaitCtx the
// engine pauses jobs on, as QAT_Engine shares one. It is closed when its
// last reference goes: each WaitCtx that lists it holds one until it is
// freed (the cleanup drops it), and each operation using it holds one
// until it is released, so a WaitCtx freed while an operation is in flight
// cannot make the engine write to a closed (or reused) fd number. The
// engine's next operation then makes a new one.
//
// It is readable exactly while some operation that signaled it loudly
// (see WatchFor) has not drained it yet (pending counts them), so that a
// completion costs a write(2) only when the fd was not readable already,
// and a drain a read(2) only when it is the last: when completions come in
// bunches, most cost no system call.
type FD struct {
	fd      int
	refs    atomic.Int32
	pending atomic.Int32 // Signals not yet drained
	drain   sync.Mutex   // orders drains, so that none eats another's wake-up

	watchMu  sync.Mutex                // orders Watch and Unwatch
	watchers atomic.Pointer[[]Watcher] // see Watch; replaced, never changed
	watched  sync.Map                  // *async.WaitCtx → Watcher: see WatchFor
}

// Available reports whether this OS has wait fds: Linux has, as eventfds.
const Available = true

// one is the 8-byte host-order 1 written to an eventfd to make it readable.
var one = func() (b [8]byte) {
	binary.NativeEndian.PutUint64(b[:], 1)
	return b
}()

// waitFD returns the wait fd set under p.Key in w, setting p's shared one
// (made if need be) on first use, with a reference taken for the caller.
// p.Pkg starts the message of an error from eventfd(2); SetWaitFD's errors
// are returned as they are, and async.ErrFreed also when w is freed as
// waitFD finds its fd.
//
// The reference is taken with the fd in hand, and refused once the last
// one has gone: a WaitCtx freed by another goroutine between the lookup
// and the reference has closed the fd, whose number may be another file's
// by then, and the engine must neither write to it nor close it again.
func waitFD(w *async.WaitCtx, p *Policy) (*FD, error) {
	if _, data, ok := w.FD(p.Key); ok {
		if f, ok := data.(*FD); ok {
			if testHookFound != nil {
				testHookFound()
			}
			if !f.ref() {
				return nil, async.ErrFreed
			}
			return f, nil
		}
	}
	f, err := p.shared() // with the caller's reference
	if err != nil {
		return nil, err
	}
	// The WaitCtx's reference, before the WaitCtx has it: a Free right
	// after SetWaitFD drops only the WaitCtx's.
	f.refs.Add(1)
	if err := w.SetWaitFD(p.Key, f.fd, f, cleanup); err != nil {
		f.unref()
		f.unref()
		return nil, err
	}
	return f, nil
}

// shared returns p's wait fd with a reference taken for the caller,
// making a new one if p has none, or its last reference went.
func (p *Policy) shared() (*FD, error) {
	if f := p.fd.Load(); f != nil && f.ref() {
		return f, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.fd.Load(); f != nil && f.ref() { // made meanwhile
		return f, nil
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, &fdError{pkg: p.Pkg, op: "eventfd", err: err}
	}
	f := &FD{fd: fd}
	f.refs.Store(1)
	registry.Store(fd, f)
	p.fd.Store(f)
	return f, nil
}

// testHookDrain, when a test sets it, runs in the last Drain between
// taking the count and reading the fd.
var testHookDrain func()

// testHookFound, when a test sets it, runs between finding a WaitCtx's
// wait fd and taking a reference to it.
var testHookFound func()

// ref takes a reference to f, unless its last one has gone, and reports
// whether it did.
func (f *FD) ref() bool {
	for {
		n := f.refs.Load()
		if n <= 0 {
			return false
		}
		if f.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// cleanup is the async.CleanupFunc of wait fds: Free drops the WaitCtx's
// reference.
func cleanup(_ *async.WaitCtx, _ any, _ int, data any) {
	if f, ok := data.(*FD); ok {
		f.unref()
	}
}

func (f *FD) unref() {
	if f.refs.Add(-1) == 0 {
		registry.CompareAndDelete(f.fd, f) // before the number can be reused
		_ = unix.Close(f.fd)
	}
}

// Signal makes the fd readable, until the matching Drain, and then tells
// its watchers. Each Signal must be matched by one Drain, by the
// operation it woke.
func (f *FD) Signal() {
	if f.pending.Add(1) == 1 {
		f.write()
	}
	f.ring()
}

func (f *FD) write() {
	for {
		if _, err := unix.Write(f.fd, one[:]); err != unix.EINTR {
			// EAGAIN means the counter is at its maximum: readable anyway.
			return
		}
	}
}

// Drain takes back one Signal: the last one drained makes the fd
// unreadable again. A Signal that comes while the fd is drained, after
// its count was taken, is written again, so no wake-up is lost.
func (f *FD) Drain() {
	f.drain.Lock()
	if f.pending.Add(-1) == 0 {
		if testHookDrain != nil {
			testHookDrain()
		}
		f.read()
		if f.pending.Load() > 0 { // signaled since, and maybe read above
			f.write() // (that Signal rang: watchers look at pending, not at the fd)
		}
	}
	f.drain.Unlock()
}

// read empties the eventfd: reading it returns its counter and resets it.
// EAGAIN means it was not readable.
func (f *FD) read() {
	var b [8]byte
	for {
		if _, err := unix.Read(f.fd, b[:]); err != unix.EINTR {
			return
		}
	}
}

// fdError reports a failed system call setting up a wait fd, as
// "pkg: op: error".
type fdError struct {
	pkg string
	op  string
	err error
}

func (e *fdError) Error() string { return e.pkg + ": " + e.op + ": " + e.err.Error() }
func (e *fdError) Unwrap() error { return e.err }
