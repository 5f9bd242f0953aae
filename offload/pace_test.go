package offload

import (
	"testing"
	"time"
)

// The pacer reads the clock less often the shorter the requests are, and
// every request once they are long; either way it restarts its count of
// running time when it yields.
func TestPacerAdapts(t *testing.T) {
	var p pacer
	p.restart()
	// Requests that take no time. A preemption makes a batch look long and
	// resets every, rightly, so on a loaded machine a round may end low:
	// one round of the many must end at maxEvery.
	for round := 0; ; round++ {
		for range 1000 {
			p.tick()
		}
		if p.every == maxEvery {
			break
		}
		if round == 100 {
			t.Fatalf("after short requests every = %d, want %d", p.every, maxEvery)
		}
	}
	for range 20 { // requests longer than yieldAfter/8
		time.Sleep(yieldAfter / 4)
		p.tick()
	}
	if p.every != 1 {
		t.Errorf("after long requests every = %d, want 1", p.every)
	}
	start := time.Now()
	for range 5 {
		time.Sleep(yieldAfter)
		p.tick()
	}
	if !p.since.After(start) && !p.fresh {
		t.Errorf("the pacer did not restart after running for %v", time.Since(start))
	}
}
