//go:build linux

package loop

import (
	"context"
	"testing"
	"time"
)

// A loop waiting for a slow operation, with no other goroutine wanting
// the CPU, must not spin: its yields end at once, and then spinning only
// takes CPU from whatever the operation waits for (on a busy machine,
// another process; on this one, the signer's goroutines, whose threads
// wait for a CPU). It parks instead (fd and callback modes), or gives its
// thread's CPU away at each fruitless round of polling while other
// threads wait for a CPU (poll mode). Before this was so, the loop spun
// spinRounds (128) yields before every park, and polled on without ever
// yielding its thread.
func TestIdleWaitDoesNotSpin(t *testing.T) {
	const ops = 20
	for _, tc := range []struct {
		mode Mode
		kind notifyKind
	}{{ModeFD, kindFD}, {ModeCallback, kindCallback}, {ModePoll, kindPoll}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			leakCheck(t)
			spins, yields := 0, 0
			testHookSpin = func() { spins++ }
			testHookYield = func() { yields++ }
			testHookContended = func() bool { return true } // as on a busy machine
			defer func() { testHookSpin, testHookYield, testHookContended = nil, nil, nil }()
			runSlow(t, tc.mode, tc.kind, ops)
			if tc.mode == ModePoll {
				// Every operation takes 2ms: many fruitless rounds each.
				if yields < ops {
					t.Errorf("%d thread yields in %d slow operations; want one or more each", yields, ops)
				}
				return
			}
			// A yield that some goroutine's run stretches past idleYield
			// (the timer's, the race detector's) may add a round.
			if spins > 4*ops {
				t.Errorf("%d spin rounds in %d slow operations; want about one each (a spin of %d before every park is the fault)", spins, ops, spinRounds)
			}
		})
	}
}

// runSlow runs ops operations of 2ms each, one at a time, through a loop
// in mode on a fake engine of kind, and fails t unless each returns its
// result.
func runSlow(t *testing.T, mode Mode, kind notifyKind, ops int) {
	t.Helper()
	e := newFakeEngine(t, kind, 1)
	e.delay = 2 * time.Millisecond
	results, _, err := tally(t, context.Background(), Config{Mode: mode, InFlight: 1}, ops,
		func(i int) Task { return Task{Fn: e.task, Args: taskArgs(i, 1)} })
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil || r.Ret != expected(i, 1) {
			t.Fatalf("task %d: %+v", i, r)
		}
	}
}
