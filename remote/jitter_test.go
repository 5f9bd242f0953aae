package remote

import (
	"testing"
	"time"
)

// TestJitteredRetry: the wait before a stream is opened again strays
// from its nominal length, at random and within retryJitter of it, so
// that streams that failed together do not retry in step.
func TestJitteredRetry(t *testing.T) {
	const d = 100 * time.Millisecond
	lo, hi := time.Duration(float64(d)*(1-retryJitter)), time.Duration(float64(d)*(1+retryJitter))
	seen := map[time.Duration]bool{}
	for range 1000 {
		w := jittered(d)
		if w < lo || w > hi {
			t.Fatalf("jittered(%v) = %v, outside [%v, %v]", d, w, lo, hi)
		}
		seen[w] = true
	}
	if len(seen) < 100 {
		t.Errorf("1000 waits took only %d lengths: not random", len(seen))
	}
}
