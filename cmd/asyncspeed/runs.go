//go:build linux

package main

import (
	"slices"
)

// summarize folds the runs of one row (-count of them, the same algorithm
// and mode) into one: ops and seconds add up, OpsPerSec is the median of
// the runs' rates, with the slowest and fastest beside it. Runs that
// measured nothing (an interrupted -count) are left out; with none left,
// the row has no Seconds.
func summarize(runs []row) row {
	var sum row
	var rates []float64
	var lat latencies
	for _, r := range runs {
		if r.Seconds <= 0 {
			continue
		}
		ops, secs, errs := sum.Ops+r.Ops, sum.Seconds+r.Seconds, sum.Errors+r.Errors
		sum = r
		sum.Ops, sum.Seconds, sum.Errors = ops, secs, errs
		if r.lat != nil {
			lat.merge(r.lat)
		}
		rates = append(rates, r.OpsPerSec)
	}
	if len(rates) == 0 {
		return sum
	}
	sum.lat = &lat
	sum.setPercentiles()
	slices.Sort(rates)
	n := len(rates)
	sum.OpsPerSec = (rates[(n-1)/2] + rates[n/2]) / 2
	sum.OpsPerSecMin, sum.OpsPerSecMax, sum.Count = rates[0], rates[n-1], n
	return sum
}

// summarizeAll folds runs, each a row per mode in the same order, into one
// row per mode.
func summarizeAll(runs [][]row) []row {
	if len(runs) == 0 {
		return nil
	}
	out := make([]row, len(runs[0]))
	col := make([]row, 0, len(runs))
	for m := range out {
		col = col[:0]
		for _, rs := range runs {
			col = append(col, rs[m])
		}
		out[m] = summarize(col)
	}
	return out
}
