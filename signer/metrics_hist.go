package signer

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// hist is a histogram of durations for the request path, cheaper than
// prometheus.Histogram's: an observation is two atomic additions (its
// bucket, and the sum in nanoseconds) after a search of integer bounds;
// the count is the buckets' sum, read when the metrics are collected.
// Its buckets are shared by every hist of a histVec.
type hist struct {
	counts []atomic.Uint64 // one per bound, then +Inf
	sum    atomic.Int64    // nanoseconds
}

// histVec is a histogram metric, with the label values of each hist.
type histVec struct {
	desc   *prometheus.Desc
	bounds []time.Duration
	upper  []float64 // bounds, in seconds
	hists  []hist
	labels [][]string
}

// newHistVec makes a histogram metric of the given buckets (in seconds)
// with a hist for each of labelValues (each of len(labels) values; one
// empty set for a metric without labels).
func newHistVec(name, help string, buckets []float64, labels []string, labelValues [][]string) *histVec {
	v := &histVec{
		desc:   prometheus.NewDesc(name, help, labels, nil),
		upper:  buckets,
		hists:  make([]hist, len(labelValues)),
		labels: labelValues,
	}
	for _, b := range buckets {
		v.bounds = append(v.bounds, time.Duration(b*float64(time.Second)))
	}
	for i := range v.hists {
		v.hists[i].counts = make([]atomic.Uint64, len(buckets)+1)
	}
	return v
}

// observe adds d to the i-th hist.
func (v *histVec) observe(i int, d time.Duration) {
	b := 0
	for b < len(v.bounds) && d > v.bounds[b] {
		b++
	}
	h := &v.hists[i]
	h.counts[b].Add(1)
	h.sum.Add(int64(d))
}

func (v *histVec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

func (v *histVec) Collect(ch chan<- prometheus.Metric) {
	for i := range v.hists {
		h := &v.hists[i]
		cum := make(map[float64]uint64, len(v.upper))
		var n uint64
		for b, ub := range v.upper {
			n += h.counts[b].Load()
			cum[ub] = n
		}
		n += h.counts[len(v.upper)].Load()
		ch <- prometheus.MustNewConstHistogram(v.desc, n, time.Duration(h.sum.Load()).Seconds(), cum, v.labels[i]...)
	}
}
