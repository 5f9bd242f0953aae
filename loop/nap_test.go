//go:build linux

package loop

import (
	"runtime"
	"testing"
	"time"
)

// On a machine whose CPUs other work keeps busy (a yield that takes long),
// a loop in ModePoll naps between fruitless rounds, and looks at the
// machine again only after napStreak naps: every operation still
// completes, woken by nothing but the nap's timer.
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

// A nap lasts at least napFor and gives the loop's P away: a goroutine
// that waits for that P, the only one, runs during a nap. (A nap that kept
// its thread and P, as nanosleep or sched_yield do, would leave the
// goroutines the jobs wait for waiting.) Not necessarily the first: a nap
// whose timer expires before its goroutine has parked hands the P back to
// the napper first.
func TestNapGivesThePAway(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var l loop
	ran := make(chan struct{})
	go func() { close(ran) }() // runnable, waiting for the P this goroutine holds
	// 100 naps take 2ms or more, well within the 10ms after which the
	// runtime would preempt a napper that kept the P.
	for i := range 100 {
		start := time.Now()
		l.nap()
		if d := time.Since(start); d < napFor {
			t.Errorf("nap %d lasted %v; want at least %v", i, d, napFor)
		}
		select {
		case <-ran:
			return
		default:
		}
	}
	t.Error("a goroutine waiting for the P did not run in 100 naps")
}

// A nap allocates nothing: a loop on a busy machine naps at every
// fruitless round, several times an operation.
func TestNapAllocatesNothing(t *testing.T) {
	var l loop
	if n := testing.AllocsPerRun(100, l.nap); n != 0 {
		t.Errorf("a nap allocates %v times; want none", n)
	}
}
