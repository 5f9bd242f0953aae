//go:build linux

package signer

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// preciseSleep is a queue's sleeper for the last stretch before the head
// of the queue comes due (see queue): a timerfd, armed for the stretch
// and parked on in the netpoller, as a goroutine parks on a socket. Its
// expiry wakes the netpoller's thread at once, where a timer of the
// runtime's own may be a millisecond late, and while it sleeps the worker
// holds no P. (Blocking the worker's thread in nanosleep, as the signer
// did before, kept its P until the runtime's monitor took it back: with
// both Ps of a 2-core machine held by a sleeping worker and by a client
// polling its jobs, an embedded signer's answers waited for the monitor,
// and asyncspeed's poll rows measured half what they measure against a
// signer in a process of its own.)
//
// A queue has at most one sleeper at a time (queue.armed), so one timerfd
// serves it; it is made at the first sleep and closed with the queue.
type preciseSleep struct {
	f      *os.File        // the timerfd, nil until made
	rc     syscall.RawConn // f's
	fd     int             // f's (f.Fd would make it blocking)
	broken bool            // no timerfd could be made: sleep on the runtime's timers
}

// prepare makes the timerfd, if it is not made yet; q.mu held.
func (p *preciseSleep) prepare() {
	if p.f != nil || p.broken {
		return
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		p.broken = true
		return
	}
	f := os.NewFile(uintptr(fd), "timerfd") // non-blocking: registered with the netpoller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		p.broken = true
		return
	}
	p.f, p.rc, p.fd = f, rc, fd
}

// sleep sleeps for d, or until the timerfd is closed; after prepare, by
// the queue's one sleeper, without q.mu.
func (p *preciseSleep) sleep(d time.Duration) {
	if p.f == nil {
		time.Sleep(d)
		return
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(max(d, 1)))}
	if unix.TimerfdSettime(p.fd, 0, &spec, nil) != nil {
		time.Sleep(d)
		return
	}
	// An error is the timerfd closed with the queue: the sleep is over.
	p.rc.Read(takeExpiry) // a func, not a closure: no allocation
}

// takeExpiry is the netpoller's test of a sleep's end: it takes the
// timerfd's expiry, if the timer has expired.
func takeExpiry(fd uintptr) bool {
	var b [8]byte
	n, _ := unix.Read(int(fd), b[:])
	return n == len(b)
}

// close closes the timerfd; q.mu held. A sleep in progress ends.
func (p *preciseSleep) close() {
	if p.f != nil {
		p.f.Close()
	}
}
