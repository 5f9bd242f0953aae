//go:build linux

package loop

import (
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
// sets a timerfd in its epoll set for napFor and parks in the netpoller, as
// it does when it waits for fds. Parked, the loop holds neither a CPU nor
// a P; the timerfd wakes it on time (a timer of the runtime's own would
// wake it only at the next millisecond, on a busy machine). Each nap costs
// two system calls; napFor trades those and the CPU they take against the
// latency a nap adds to the operation that completes during it.

// napFor is how long a nap lasts. Measured at one job in flight against a
// signer with no delay, both cores busy with other work, it gave 0.70x the
// blocking rate, where naps of 10µs gave 0.4x (each costs more CPU than it
// saves) and of 100µs 0.5x (the wait outlasts most operations).
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
	fd      int  // the timerfd, in the epoll set; valid when made
	made    bool // fd is open
	broken  bool // it could not be made: give the CPU away with sched_yield
	streak  int  // naps left before asking whether the machine is contended
	setting unix.ItimerSpec
}

// nap gives the loop's CPU and P away for about napFor.
func (l *loop) nap() {
	if testHookYield != nil {
		testHookYield()
	}
	p := &l.napper
	if !p.made && !p.broken {
		p.make(&l.poller)
	}
	if p.broken {
		unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
		return
	}
	if unix.TimerfdSettime(p.fd, 0, &p.setting, nil) != nil {
		p.breakDown(&l.poller)
		return
	}
	evs, err := l.poller.park(-1)
	if err != nil {
		// The epoll set is the loop's own and open: this does not
		// happen. Should it, the loop polls on, without naps.
		p.breakDown(&l.poller)
		return
	}
	l.dispatch(evs)
}

func (p *napper) make(poller *poller) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		p.broken = true
		return
	}
	if poller.add(fd) != nil {
		unix.Close(fd)
		p.broken = true
		return
	}
	p.fd, p.made = fd, true
	p.setting = unix.ItimerSpec{Value: unix.NsecToTimespec(int64(napFor))}
}

// expired takes the timerfd's expiry count, which makes it unreadable
// until the next nap arms it.
func (p *napper) expired() {
	var b [8]byte
	unix.Read(p.fd, b[:])
}

// breakDown closes the timerfd and marks naps unavailable.
func (p *napper) breakDown(poller *poller) {
	p.close(poller)
	p.broken = true
}

// close closes the timerfd, if made.
func (p *napper) close(poller *poller) {
	if p.made {
		poller.del(p.fd)
		unix.Close(p.fd)
		p.made = false
	}
}
