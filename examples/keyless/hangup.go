//go:build linux

package main

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// hangupCheckEvery is how often a handshake waiting for its signature
// looks whether its client hung up. A signature that comes sooner (the
// usual case) costs the watch a timer and nothing else.
const hangupCheckEvery = 10 * time.Millisecond

// errHungUp is the cause of a signature given up because the client hung
// up.
var errHungUp = errors.New("the client hung up during the handshake")

// watchHangup returns a child of ctx that is canceled, with errHungUp as
// its cause, once the client hangs up (its FIN or RST has arrived) or the
// conn is closed. Call stop when the signature is done: it ends the watch
// and cancels the child.
//
// Why poll: crypto/tls does not read the conn while it waits for the
// signature, and a reader could not stop before crypto/tls reads again
// without disturbing the conn's deadlines. poll(2) with a zero timeout
// tells of a hang-up (POLLRDHUP, POLLHUP or POLLERR) without reading
// anything; POLLRDHUP, Linux's, sees a FIN even behind unread bytes
// (such as the client's ChangeCipherSpec).
func (c *clientConn) watchHangup(ctx context.Context) (_ context.Context, stop func()) {
	if c.raw == nil {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	w := &hangupWatch{raw: c.raw, cancel: cancel}
	w.mu.Lock()
	w.t = time.AfterFunc(hangupCheckEvery, w.check)
	w.mu.Unlock()
	return ctx, w.stop
}

type hangupWatch struct {
	raw    syscall.RawConn
	cancel context.CancelCauseFunc

	mu      sync.Mutex // orders check against stop: none runs past stop
	t       *time.Timer
	stopped bool
}

func (w *hangupWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if hungUp(w.raw) {
		w.cancel(errHungUp)
		return
	}
	w.t.Reset(hangupCheckEvery)
}

func (w *hangupWatch) stop() {
	w.mu.Lock()
	w.stopped = true
	w.t.Stop()
	w.mu.Unlock()
	w.cancel(nil)
}

// hungUp reports whether the peer of raw hung up, or raw was closed.
func hungUp(raw syscall.RawConn) bool {
	hung := false
	err := raw.Control(func(fd uintptr) {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		n, err := unix.Poll(p, 0)
		hung = err == nil && n > 0 && p[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
	})
	return err != nil || hung // err: closed under us
}
