//go:build linux

package main

import (
	"math"
	"testing"
	"time"
)

// Buckets cover every duration in order, and a percentile lands within
// the histogram's 6% of the true one.
func TestLatencies(t *testing.T) {
	prev := -1
	for d := time.Duration(1); d < time.Hour; d += d/7 + 1 {
		b := latBucket(d)
		if b < prev || latLow(b) > d || latLow(b+1) <= d {
			t.Fatalf("%v in bucket %d [%v, %v), after %d", d, b, latLow(b), latLow(b+1), prev)
		}
		prev = b
	}
	var l latencies
	if l.percentile(0.5) != 0 {
		t.Error("percentile of nothing is not 0")
	}
	for i := 1; i <= 1000; i++ {
		l.add(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 500}, {0.99, 990}, {0.01, 10}} {
		if got := l.percentile(c.q); math.Abs(got-c.want)/c.want > 0.07 {
			t.Errorf("p%v = %vµs, want about %v", c.q*100, got, c.want)
		}
	}
}
