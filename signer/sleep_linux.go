//go:build linux

package signer

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// sleepPrecisely blocks the calling thread in nanosleep(2) for d: the
// kernel wakes it within tens of microseconds, where the runtime's timers
// may be a millisecond late. It uses no CPU meanwhile. The thread's timer
// slack, by which Linux may defer a wake-up to merge it with others (50µs
// by default), is set to the least first.
func sleepPrecisely(d time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0)
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
	}
}
