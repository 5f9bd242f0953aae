//go:build linux

package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// latencies is a histogram of operation latencies that many goroutines
// may add to at once without a lock. Buckets are log-linear: 16 per power
// of two of nanoseconds, so a percentile read from it is within about 6%
// of the true one.
type latencies struct {
	buckets [64 * latSub]atomic.Uint64
}

const latSub = 16 // buckets per power of two

func latBucket(d time.Duration) int {
	n := uint64(max(d, 1))
	if n < latSub {
		return int(n)
	}
	exp := bits.Len64(n) - 1 // n is in [2^exp, 2^(exp+1))
	sub := (n >> (exp - 4)) & (latSub - 1)
	return (exp-3)*latSub + int(sub)
}

// latLow returns the smallest duration in bucket i.
func latLow(i int) time.Duration {
	if i < latSub {
		return time.Duration(i)
	}
	exp := i/latSub + 3
	sub := uint64(i % latSub)
	return time.Duration((latSub + sub) << (exp - 4))
}

func (l *latencies) add(d time.Duration) { l.buckets[latBucket(d)].Add(1) }

// merge adds o's counts to l.
func (l *latencies) merge(o *latencies) {
	for i := range o.buckets {
		if n := o.buckets[i].Load(); n > 0 {
			l.buckets[i].Add(n)
		}
	}
}

// percentile returns the latency below which a fraction q of the
// operations fall, in microseconds (the middle of its bucket); 0 when
// nothing was counted.
func (l *latencies) percentile(q float64) float64 {
	var total uint64
	for i := range l.buckets {
		total += l.buckets[i].Load()
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i := range l.buckets {
		seen += l.buckets[i].Load()
		if seen >= max(rank, 1) {
			lo, hi := latLow(i), latLow(i+1)
			return float64(lo+hi) / 2 / float64(time.Microsecond)
		}
	}
	return 0
}
