//go:build linux

package remote

import (
	"encoding/binary"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
)

// waitFD is the engine's eventfd for one WaitCtx, as in package offload.
// It is closed when its last reference goes: the WaitCtx holds one until it
// is freed (the cleanup drops it), and each request using it holds one
// until released, so a WaitCtx freed while a request is in flight cannot
// make the engine write to a closed (or reused) fd number.
type waitFD struct {
	fd   int
	refs atomic.Int32
}

// one is the 8-byte host-order 1 written to an eventfd to make it readable.
var one = func() (b [8]byte) {
	binary.NativeEndian.PutUint64(b[:], 1)
	return b
}()

// waitFD returns the engine's wait fd for w, creating it and setting it
// under the key e on first use.
func (e *Engine) waitFD(w *async.WaitCtx) (*waitFD, error) {
	if _, data, ok := w.FD(e); ok {
		if f, ok := data.(*waitFD); ok {
			return f, nil
		}
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, &fdError{op: "eventfd", err: err}
	}
	f := &waitFD{fd: fd}
	f.refs.Store(1) // the WaitCtx's reference
	if err := w.SetWaitFD(e, fd, f, cleanupWaitFD); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return f, nil
}

// cleanupWaitFD is the async.CleanupFunc of the engine's wait fds: Free
// drops the WaitCtx's reference.
func cleanupWaitFD(_ *async.WaitCtx, _ any, _ int, data any) {
	if f, ok := data.(*waitFD); ok {
		f.unref()
	}
}

func (f *waitFD) unref() {
	if f.refs.Add(-1) == 0 {
		_ = unix.Close(f.fd)
	}
}

// signal makes the fd readable.
func (f *waitFD) signal() {
	for {
		if _, err := unix.Write(f.fd, one[:]); err != unix.EINTR {
			return // EAGAIN: the counter is at its maximum, readable anyway
		}
	}
}

// drain makes the fd unreadable again.
func (f *waitFD) drain() {
	var b [8]byte
	for {
		if _, err := unix.Read(f.fd, b[:]); err != unix.EINTR {
			return
		}
	}
}

// fdError reports a failed system call setting up a wait fd.
type fdError struct {
	op  string
	err error
}

func (e *fdError) Error() string { return "remote: " + e.op + ": " + e.err.Error() }
func (e *fdError) Unwrap() error { return e.err }
