//go:build linux

package loop

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// On a machine whose CPUs other work keeps busy (a yield that takes long),
// a loop in ModePoll naps on its timerfd between fruitless rounds, and
// looks at the machine again only after napStreak naps: every operation
// still completes, woken by nothing but the timer, and the timerfd is
// closed when Run returns.
func TestPollNapsWhenBusy(t *testing.T) {
	const ops = 20
	leakCheck(t)
	yields, probes := 0, 0
	testHookYield = func() { yields++ }
	testHookContended = func() bool { return true }
	testHookBusy = func() bool { probes++; return true }
	defer func() { testHookYield, testHookContended, testHookBusy = nil, nil, nil }()
	runSlow(t, ModePoll, kindPoll, ops)
	// Each 2ms operation takes several naps of napFor; a probe comes only
	// after napStreak of them.
	if yields < 2*ops {
		t.Errorf("%d yields and naps in %d slow operations; want several each", yields, ops)
	}
	if max := yields/napStreak + 1; probes > max {
		t.Errorf("%d looks at the machine in %d yields and naps; want at most %d (one per napStreak)", probes, yields, max)
	}
}

// A nap lasts its napFor, however the last one ended: a timer that
// expired before its nap parked (or with no nap to take it) neither ends
// the next nap early nor leaves it parked for good. The timerfd is the
// netpoller's, not in the loop's epoll set, whose waits it must not end.
func TestNapLastsItsTime(t *testing.T) {
	leakCheck(t)
	l := napLoop(t)
	naps := make(chan time.Duration)
	go func() {
		defer close(naps)
		for i := range 6 {
			if i%2 == 1 {
				// An expiry no nap takes: the timer goes off, and
				// the netpoller sees it, before the next nap.
				stale := unix.ItimerSpec{Value: unix.NsecToTimespec(1000)}
				if err := unix.TimerfdSettime(l.napper.fd, 0, &stale, nil); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond)
			}
			start := time.Now()
			l.nap()
			naps <- time.Since(start)
		}
	}()
	limit := time.After(10 * time.Second)
	for i := 0; ; i++ {
		select {
		case d, ok := <-naps:
			if !ok {
				if evs, err := l.poller.poll(); err != nil || len(evs) != 0 {
					t.Errorf("the loop's epoll set reports %v, %v after naps; want nothing", evs, err)
				}
				if l.napper.broken {
					t.Error("naps broke down")
				}
				return
			}
			if d < napFor {
				t.Errorf("nap %d lasted %v; want at least %v", i, d, napFor)
			}
		case <-limit:
			t.Fatalf("nap %d has not ended after 10s", i)
		}
	}
}

// A nap allocates nothing: a loop on a busy machine naps at every
// fruitless round, several times an operation. (The netpoller's test of
// its end is a plain func; a closure would escape through RawConn.Read.)
func TestNapAllocatesNothing(t *testing.T) {
	if raceBuild {
		t.Skip("under the race detector the netpoller's read allocates; run without -race")
	}
	l := napLoop(t)
	if n := testing.AllocsPerRun(100, l.nap); n != 0 {
		t.Errorf("a nap allocates %v times; want none", n)
	}
}

// napLoop makes a ModePoll loop with its timerfd made, closed when t
// ends, or skips t where there is no timerfd.
func napLoop(t *testing.T) *loop {
	t.Helper()
	l := &loop{ctx: context.Background(), mode: ModePoll}
	t.Cleanup(l.close)
	if err := l.init(Config{Mode: ModePoll, InFlight: 1}); err != nil {
		t.Fatal(err)
	}
	if l.napper.make(); l.napper.broken {
		t.Skip("no timerfd here: naps fall back to sched_yield")
	}
	return l
}
