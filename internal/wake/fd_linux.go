//go:build linux

package wake

import (
	"encoding/binary"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
)

// FD is an engine's wait fd for one WaitCtx: an eventfd. It is closed when
// its last reference goes: the WaitCtx holds one until it is freed (the
// cleanup drops it), and each operation using it holds one until it is
// released, so a WaitCtx freed while an operation is in flight cannot make
// the engine write to a closed (or reused) fd number.
type FD struct {
	fd   int
	refs atomic.Int32
}

// Available reports whether this OS has wait fds: Linux has, as eventfds.
const Available = true

// one is the 8-byte host-order 1 written to an eventfd to make it readable.
var one = func() (b [8]byte) {
	binary.NativeEndian.PutUint64(b[:], 1)
	return b
}()

// waitFD returns the wait fd set under key in w, creating it and setting
// it on first use, with a reference taken for the caller. pkg starts the
// message of an error from eventfd(2); SetWaitFD's errors are returned as
// they are, and async.ErrFreed also when w is freed as waitFD finds its fd.
//
// The reference is taken with the fd in hand, and refused once the last
// one has gone: a WaitCtx freed by another goroutine between the lookup
// and the reference has closed the fd, whose number may be another file's
// by then, and the engine must neither write to it nor close it again.
func waitFD(w *async.WaitCtx, key any, pkg string) (*FD, error) {
	if _, data, ok := w.FD(key); ok {
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
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, &fdError{pkg: pkg, op: "eventfd", err: err}
	}
	f := &FD{fd: fd}
	// The WaitCtx's reference and the caller's, both before the WaitCtx
	// has it: a Free right after SetWaitFD drops only the WaitCtx's.
	f.refs.Store(2)
	if err := w.SetWaitFD(key, fd, f, cleanup); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return f, nil
}

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
		_ = unix.Close(f.fd)
	}
}

// Signal makes the fd readable.
func (f *FD) Signal() {
	for {
		if _, err := unix.Write(f.fd, one[:]); err != unix.EINTR {
			// EAGAIN means the counter is at its maximum: readable anyway.
			return
		}
	}
}

// Drain makes the fd unreadable again: reading an eventfd returns its
// counter and resets it. EAGAIN means it was not readable.
func (f *FD) Drain() {
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
