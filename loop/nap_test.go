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

// A nap's timer that expires after the nap ended (an earlier event woke
// the loop) is taken wherever the loop next sees it, as the timer it is:
// afterwards the epoll set reports nothing, where a timerfd left readable
// would end every later park at once.
func TestNapTimerTakenAnywhere(t *testing.T) {
	leakCheck(t)
	l := &loop{ctx: context.Background(), mode: ModePoll}
	defer l.close()
	if err := l.init(Config{Mode: ModePoll, InFlight: 1}); err != nil {
		t.Fatal(err)
	}
	if l.napper.make(&l.poller); !l.napper.made {
		t.Skip("no timerfd here: naps fall back to sched_yield")
	}
	l.napper.setting.Value = unix.NsecToTimespec(1000)
	if err := unix.TimerfdSettime(l.napper.fd, 0, &l.napper.setting, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	evs, err := l.poller.poll()
	if err != nil || len(evs) != 1 || int(evs[0].Fd) != l.napper.fd {
		t.Fatalf("poll = %v, %v; want the expired timer", evs, err)
	}
	l.dispatch(evs)
	if evs, err := l.poller.poll(); err != nil || len(evs) != 0 {
		t.Fatalf("after dispatch, poll = %v, %v; want nothing ready", evs, err)
	}
}
