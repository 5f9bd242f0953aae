//go:build linux

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
	for range 10000 { // requests that take no time
		p.tick()
	}
	if p.every != maxEvery {
		t.Errorf("after short requests every = %d, want %d", p.every, maxEvery)
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
