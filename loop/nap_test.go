//go:build linux

package loop

import "testing"

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
