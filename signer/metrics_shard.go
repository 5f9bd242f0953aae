package signer

import (
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The request path's metrics are counted in shards, each on cache lines
// of its own, and summed when the metrics are collected: a worker adds
// to a shard drawn at random, so that two workers seldom write to the
// same cache line, where one shared counter would have it move from core
// to core at every request. Where the clock was just read, its reading,
// hashed, draws the shard at no cost; elsewhere math/rand/v2, whose
// generator is per thread. A histogram is counts by bucket and a sum,
// two atomic additions an observation, the count being the buckets' sum.
const (
	shardBits = 3
	numShards = 1 << shardBits
)

// The histograms' buckets, in seconds: from 10 µs (an ECDSA signature, a
// queue with a worker free) to 1 s for signing (an HSM that stalls) and
// 10 s for the wait (a deep queue).
var (
	signBuckets = [...]float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1}
	waitBuckets = [...]float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1, 2.5, 10}
)

// The buckets' bounds as durations, for observe.
var signBounds, waitBounds = durations(signBuckets[:]), durations(waitBuckets[:])

func durations(secs []float64) []time.Duration {
	d := make([]time.Duration, len(secs))
	for i, s := range secs {
		d[i] = time.Duration(s * float64(time.Second))
	}
	return d
}

// bucket returns the index of d's bucket among bounds: the first bound
// d does not pass, len(bounds) for +Inf.
func bucket(bounds []time.Duration, d time.Duration) int {
	b := 0
	for b < len(bounds) && d > bounds[b] {
		b++
	}
	return b
}

// shard is one share of the request path's metrics.
type shard struct {
	requests [numCodes][numKeyTypes]atomic.Uint64
	sign     [numKeyTypes][len(signBuckets) + 1]atomic.Uint64
	signSum  [numKeyTypes]atomic.Int64 // nanoseconds
	wait     [len(waitBuckets) + 1]atomic.Uint64
	waitSum  atomic.Int64 // nanoseconds
	signing  atomic.Int64 // taken minus signed, in this shard
	_        [64]byte     // apart from the next shard
}

// shards are a server's.
type shards [numShards]shard

// pick returns a shard drawn at random.
func (s *shards) pick() *shard {
	return &s[rand.Uint32()&(numShards-1)]
}

// at returns the shard that the clock's reading now draws: readings a
// nanosecond apart draw unrelated shards (Fibonacci hashing).
func (s *shards) at(now time.Duration) *shard {
	return &s[uint64(now)*0x9E3779B97F4A7C15>>(64-shardBits)]
}

// collectRequests sends the requests counted, by code and key type.
func (s *shards) collectRequests(desc *prometheus.Desc, ch chan<- prometheus.Metric) {
	for c := range numCodes {
		for t := range numKeyTypes {
			var n uint64
			for i := range s {
				n += s[i].requests[c][t].Load()
			}
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(n), codeName(c), keyTypeNames[t])
		}
	}
}

// collectHist sends the histogram whose bucket b's count in a shard is
// count(shard, b) and sum sum(shard), with labels.
func (s *shards) collectHist(desc *prometheus.Desc, ch chan<- prometheus.Metric, upper []float64,
	count func(*shard, int) uint64, sum func(*shard) int64, labels ...string) {
	cum := make(map[float64]uint64, len(upper))
	var n uint64
	var total int64
	for b := range len(upper) + 1 {
		for i := range s {
			n += count(&s[i], b)
		}
		if b < len(upper) {
			cum[upper[b]] = n
		}
	}
	for i := range s {
		total += sum(&s[i])
	}
	ch <- prometheus.MustNewConstHistogram(desc, n, time.Duration(total).Seconds(), cum, labels...)
}

// signing returns the requests being signed.
func (s *shards) signing() int64 {
	var n int64
	for i := range s {
		n += s[i].signing.Load()
	}
	return n
}

// hotCollector is the Collector of a server's shards.
type hotCollector struct {
	s                        *shards
	requests, sign, wait, in *prometheus.Desc
}

func newHotCollector(s *shards) *hotCollector {
	return &hotCollector{
		s: s,
		requests: prometheus.NewDesc("asyncsignd_requests_total",
			"Requests answered, by wire code (ok, overloaded, permission_denied, ...) and key type (unknown: a key the signer does not hold).",
			[]string{"code", "key_type"}, nil),
		sign: prometheus.NewDesc("asyncsignd_sign_seconds", "Time a worker spent signing a request, by key type.",
			[]string{"key_type"}, nil),
		wait: prometheus.NewDesc("asyncsignd_queue_wait_seconds",
			"Time a request waited, from its arrival to a worker taking it (Config.Delay's first half included).", nil, nil),
		in: prometheus.NewDesc("asyncsignd_requests_in_flight", "Requests a worker is signing now.", nil, nil),
	}
}

func (h *hotCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- h.requests
	ch <- h.sign
	ch <- h.wait
	ch <- h.in
}

func (h *hotCollector) Collect(ch chan<- prometheus.Metric) {
	h.s.collectRequests(h.requests, ch)
	for t := range numKeyTypes {
		h.s.collectHist(h.sign, ch, signBuckets[:],
			func(sh *shard, b int) uint64 { return sh.sign[t][b].Load() },
			func(sh *shard) int64 { return sh.signSum[t].Load() }, keyTypeNames[t])
	}
	h.s.collectHist(h.wait, ch, waitBuckets[:],
		func(sh *shard, b int) uint64 { return sh.wait[b].Load() },
		func(sh *shard) int64 { return sh.waitSum.Load() })
	ch <- prometheus.MustNewConstMetric(h.in, prometheus.GaugeValue, float64(max(0, h.s.signing())))
}
