//go:build linux

package loop

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A loop in ModePoll has nothing to wait on: only resuming a job tells it
// whether the job's operation is done. On a quiet machine it yields
// between fruitless rounds and spins on. On a machine whose CPUs other
// work keeps busy, spinning takes CPU from the very threads the operation
// waits for (the engine's, a signer's, the network's), and giving the CPU
// away with sched_yield costs the loop a whole time slice of the other
// work each time (a millisecond or more): at one job in flight either kept
// polling at 0.1x to 0.4x the blocking call's rate.
//
// So on a contended machine the loop naps between fruitless rounds: it
// arms a timerfd of its own for napFor and parks on it in the netpoller,
// as a goroutine parks on a socket. Parked, the loop holds neither a CPU
// nor a P, and the goroutines its jobs wait for run on its thread; the
// timerfd wakes it on time (a timer of the runtime's own would wake it
// only at the next millisecond, on a busy machine). The timerfd is the
// netpoller's own fd, not one in the loop's epoll set: waking through a
// second epoll set cost a system call and an epoll wake-up more per nap:
// in paired runs of the sync and poll rows alone it measured 0.60x-0.66x
// the blocking rate where this measured 0.65x-0.70x (asyncspeed's own
// rows, noisier, showed no difference). A nap costs three system calls:
// arming the timer, a read that finds it unexpired, and the read of its
// expiry when it wakes the loop. (The first read cannot be skipped: the
// netpoller forgets an expiry that came before the park.)

// napFor is how long a nap lasts. Measured at one job in flight against a
// signer with no delay, both cores busy with other work, 40µs and 50µs
// gave 0.65x-0.70x the blocking rate, where naps of 10µs gave 0.4x (each
// costs more CPU than it saves) and of 60µs to 100µs 0.5x (the wait
// outlasts most operations).
const napFor = 50 * time.Microsecond

// busyYield is how long a sched_yield must take for the loop to take the
// machine for busy with other work, and nap: on a machine that is merely
// not idle (the engine's own threads waking) a yield comes back within
// tens of microseconds; behind other work's time slices, in milliseconds.
const busyYield = 250 * time.Microsecond

// napStreak is how many fruitless rounds a loop that found the machine
// busy naps before it looks again (some 100ms of naps): looking costs a
// yield, which on a busy machine is a time slice of other work. 400 gave
// 0.57x-0.62x where 2000 gave 0.67x-0.70x, and a machine that has become
// quiet meanwhile pays naps for a tenth of a second at most.
const napStreak = 2000

// napper is the loop's timerfd for naps, made at the first one.
type napper struct {
	f       *os.File        // the timerfd, registered with the netpoller; nil until made
	fd      int             // f's (f.Fd would make it blocking)
	rc      syscall.RawConn // f's
	broken  bool            // it could not be made: give the CPU away with sched_yield
	streak  int             // naps left before asking whether the machine is contended
	setting unix.ItimerSpec
}

// nap gives the loop's CPU and P away for about napFor.
func (l *loop) nap() {
	if testHookYield != nil {
		testHookYield()
	}
	p := &l.napper
	if p.f == nil && !p.broken {
		p.make()
	}
	if p.broken {
		unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		return
	}
	if unix.TimerfdSettime(p.fd, 0, &p.setting, nil) != nil {
		p.breakDown()
		return
	}
	if p.rc.Read(takeExpiry) != nil { // a func, not a closure: no allocation
		// The timerfd is the loop's own and open, and pollable on
		// every Linux: this does not happen. Should it, the loop
		// polls on, without naps.
		p.breakDown()
	}
}

// make makes the timerfd, or marks naps unavailable.
func (p *napper) make() {
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
	p.f, p.fd, p.rc = f, fd, rc
	p.setting = unix.ItimerSpec{Value: unix.NsecToTimespec(int64(napFor))}
}

// takeExpiry is the netpoller's test of a nap's end: it takes the
// timerfd's expiry, if the timer has expired, which leaves the timerfd
// unreadable until it is armed again.
func takeExpiry(fd uintptr) bool {
	var b [8]byte
	n, _ := unix.Read(int(fd), b[:])
	return n == len(b)
}

// breakDown closes the timerfd and marks naps unavailable.
func (p *napper) breakDown() {
	p.close()
	p.broken = true
}

// close closes the timerfd, if made.
func (p *napper) close() {
	if p.f != nil {
		p.f.Close()
		p.f, p.rc = nil, nil
	}
}
