//go:build linux

package loop

import "time"

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
// sleeps on a timer of the runtime's own for napFor. Asleep, the loop
// holds neither a CPU nor a P, and the goroutines its jobs wait for run on
// its thread. While any of them runs, the runtime looks at its timers at
// every switch between goroutines, so the nap ends there, on a thread
// already running: no system call, no interrupt, no thread woken. A
// timerfd parked on in the netpoller, as the loop napped before, cost
// three system calls a nap and a thread woken by the timer's interrupt,
// which on a busy machine (and more so in a virtual machine) came 25µs to
// 100µs late, and took a CPU from the thread the operation ran on: at one
// job in flight behind two CPU hogs it polled at 0.61x-0.86x the blocking
// rate (median 0.68x), where this polls at 0.71x-1.22x (median 0.84x), in
// eight paired runs of asyncspeed's own rows.
//
// The runtime's timers have one weakness: a process with nothing at all
// to run sleeps in epoll_wait, whose timeout counts whole milliseconds.
// That costs little here. What a paused job waits for wakes the process
// when it comes (the answer's socket, an engine's thread), and the nap's
// timer, long expired, then lets the loop run at once; only an answer
// taken within the last napFor of a nap, the process then going idle,
// waits for the next millisecond.

// napFor is how long a nap lasts at least. Measured at one job in flight
// against a signer with no delay, both cores busy with other work, in
// runs of the poll row alone, 20µs gave 5,300-7,100 operations a second;
// 10µs 4,400-5,700 (each nap costs a round of polling); 50µs, which
// outlasts the operation's last steps often enough to meet the
// millisecond above, 3,700-4,800.
const napFor = 20 * time.Microsecond

// busyYield is how long a sched_yield must take for the loop to take the
// machine for busy with other work, and nap: on a machine that is merely
// not idle (the engine's own threads waking) a yield comes back within
// tens of microseconds; behind other work's time slices, in milliseconds.
const busyYield = 250 * time.Microsecond

// napStreak is how many fruitless rounds a loop that found the machine
// busy naps before it looks again (40ms of naps or more): looking costs a
// yield, which on a busy machine is a time slice of other work. 400 gave
// 0.57x-0.62x where 2000 gave 0.67x-0.70x (with naps of 50µs on a
// timerfd). A machine that has become quiet meanwhile pays naps for 2000
// fruitless rounds at most: a tenth of a second, or up to two seconds
// where the process sleeps through its naps (the millisecond above), in
// which what the jobs wait for still wakes the loop as it comes.
const napStreak = 2000

// nap gives the loop's CPU and P away for about napFor.
func (l *loop) nap() {
	if testHookYield != nil {
		testHookYield()
	}
	time.Sleep(napFor)
}
