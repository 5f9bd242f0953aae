//go:build linux

package enginetest

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// haveFDs: Linux has wait fds.
const haveFDs = true

// readable reports whether one of fds becomes readable within wait.
func readable(t *testing.T, fds []int, wait time.Duration) bool {
	t.Helper()
	if len(fds) == 0 {
		return false
	}
	p := make([]unix.PollFd, len(fds))
	for i, fd := range fds {
		p[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	deadline := time.Now().Add(wait)
	for {
		n, err := unix.Poll(p, int(max(time.Until(deadline), 0)/time.Millisecond))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			t.Fatalf("poll: %v", err)
		}
		return n > 0
	}
}
