//go:build linux

package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-e1024768/async/loop"
	"github.com/seed-e1024768/async/offload"
)

// row is one measurement, printed as a table cell or a JSON object.
type row struct {
	Algorithm string  `json:"algorithm"`
	Mode      string  `json:"mode"`       // sync, goroutines, fd, callback or poll
	AsyncJobs int     `json:"async_jobs"` // jobs (or goroutines) in flight; 0 for sync
	Workers   int     `json:"workers"`    // engine workers; 0 where none are used
	Ops       uint64  `json:"ops"`        // over all runs
	Seconds   float64 `json:"seconds"`    // over all runs
	OpsPerSec float64 `json:"ops_per_sec"`
	// The slowest and fastest run, and how many runs (-count) the row
	// sums up; OpsPerSec is then their median.
	OpsPerSecMin float64 `json:"ops_per_sec_min"`
	OpsPerSecMax float64 `json:"ops_per_sec_max"`
	Count        int     `json:"count"`
	// Errors counts the operations that failed without ending the run
	// (a remote signer's timeouts, say); they are not in Ops. P50us and
	// P99us are the median and 99th percentile latency of the operations
	// counted, in microseconds, over all runs.
	Errors uint64  `json:"errors"`
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`

	lat *latencies // the row's latencies, for P50us and P99us
}

// modes maps -mode to the loop's way of waiting and the engine's way of
// waking, which must agree.
var modes = map[string]struct {
	loop   loop.Mode
	notify offload.Notify
}{
	"fd":       {loop.ModeFD, offload.NotifyFD},
	"callback": {loop.ModeCallback, offload.NotifyAuto},
	"poll":     {loop.ModePoll, offload.NotifyPoll},
}

// work is one operation, done through whatever engine the row measures:
// in a job when ctx carries one, on the caller otherwise.
type work func(ctx context.Context) error

// counter counts operations as they complete, for the result and for the
// progress display, which reads it from another goroutine, and records
// their latencies.
type counter struct {
	n, errs atomic.Uint64
	lat     latencies
	// fatal says which errors end the run; nil: every one.
	fatal func(error) bool
}

func (c *counter) count() uint64 { return c.n.Load() }

func pastDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// do runs w and counts it. It returns w's error if that ends the run; an
// error that does not is counted, unless ctx has ended (the drain was cut
// short: the operation is simply not counted). An engine that watches
// ctx's deadline may see it pass a moment before ctx says so.
func (c *counter) do(ctx context.Context, w work) error {
	start := time.Now()
	err := w(ctx)
	switch {
	case err == nil:
		c.lat.add(time.Since(start))
		c.n.Add(1)
	case ctx.Err() != nil, pastDeadline(ctx):
	case c.fatal == nil || c.fatal(err):
		return err
	default:
		c.errs.Add(1)
	}
	return nil
}

// drainShare bounds the drain. A slice of a measurement is a window, in
// which work starts, then a drain, in which the work still in flight may
// finish, for at most 1/drainShare of the window. What is left then is
// canceled and not counted. Without that bound, 65536 jobs in flight of a
// slow operation would take a minute to finish whatever -seconds says.
const drainShare = 10

// runSync does the operations one after another on this goroutine, outside
// any job, so the engine computes them on the caller. Its drain is the
// one operation running when the window closes.
func runSync(ctx context.Context, w work, window time.Time, c *counter) error {
	for ctx.Err() == nil && time.Now().Before(window) {
		if err := c.do(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

// runAsync keeps jobs jobs in flight through the engine, driven by the
// event loop on this goroutine, and starts none after window. When ctx
// ends, the loop cancels the jobs still in flight; runAsync reports that
// as no error, since ctx's end is the caller's to judge.
func runAsync(ctx context.Context, w work, mode loop.Mode, jobs int, window time.Time, c *counter) error {
	var failed error
	fail := func(err error) {
		// A job cut short by the end of ctx has not failed. The jobs run
		// on this goroutine, one at a time, so failed needs no lock.
		if failed == nil && ctx.Err() == nil {
			failed = err
		}
	}
	fn := func(ctx context.Context, _ []byte) int {
		if err := c.do(ctx, w); err != nil {
			fail(err)
		}
		return 0
	}
	next := func() (loop.Task, bool) {
		if failed != nil || !time.Now().Before(window) {
			return loop.Task{}, false
		}
		return loop.Task{Fn: fn}, true
	}
	done := func(r loop.Result) {
		if r.Err != nil {
			fail(r.Err)
		}
	}
	if err := loop.Run(ctx, loop.Config{InFlight: jobs, Mode: mode}, next, done); err != nil && ctx.Err() == nil {
		return err
	}
	return failed
}

// runGoroutines is the plain Go alternative: one goroutine per operation,
// at most jobs at a time, each doing the work itself, started until window.
// A goroutine that gets a processor only after ctx has ended does nothing.
func runGoroutines(ctx context.Context, w work, jobs int, window time.Time, c *counter) error {
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	var once sync.Once
	var failed error
	var stop atomic.Bool
	for ctx.Err() == nil && time.Now().Before(window) && !stop.Load() {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			if err := c.do(ctx, w); err != nil {
				once.Do(func() { failed = err })
				stop.Store(true)
			}
		}()
	}
	wg.Wait()
	return failed
}

// target is what a group of rows measures: one algorithm through one kind
// of engine, in several modes.
type target struct {
	name  string   // the algorithm
	modes []string // the rows, in order
	// prepare readies a slice of mode's row: the operation to repeat, the
	// row's workers, and what to call when the slice is over.
	prepare func(mode string) (w work, workers int, release func(), err error)
	// fatal says which errors end the run; nil: every one.
	fatal func(error) bool
}

// offloadTarget measures the algorithm's op through a package offload
// engine made for each slice, with cfg.workers workers.
func offloadTarget(cfg config, a algorithm, o op, modeNames []string) target {
	return target{
		name:  a.name,
		modes: modeNames,
		prepare: func(mode string) (work, int, func(), error) {
			engineCfg := offload.Config{Workers: cfg.workers, AppParks: true} // package loop parks
			if m, ok := modes[mode]; ok {
				engineCfg.Notify = m.notify
			}
			e, err := offload.New(engineCfg)
			if err != nil {
				return nil, 0, nil, err
			}
			return func(ctx context.Context) error { return o(ctx, e) }, e.Config().Workers, func() { e.Close() }, nil
		},
	}
}

// sliceLen is about how long one slice of a measurement lasts: measureAll
// splits -seconds into slices and takes the modes in turn, slice by slice.
const sliceLen = 100 * time.Millisecond

// measureAll measures each of modes for cfg.duration, in turns of about
// sliceLen, and reports one row per mode, in the order given. If ctx ends
// (the user interrupted), it returns what it measured so far, the slice
// cut short included, with ctx's error; rows not yet measured have no
// Seconds.
func measureAll(ctx context.Context, cfg config, t target, p *progress) ([]row, error) {
	n := max(1, min(int((cfg.duration+sliceLen/2)/sliceLen), 50))
	rows := make([]row, len(t.modes))
	for i := range n {
		// Slices share the duration out exactly: the last takes the rest.
		d := cfg.duration / time.Duration(n)
		if i == n-1 {
			d = cfg.duration - d*time.Duration(n-1)
		}
		for m, mode := range t.modes {
			r, err := measure(ctx, cfg, t, mode, d, p)
			if err == nil || r.Ops > 0 {
				// A slice interrupted before its first operation
				// measured nothing, not a rate of zero.
				rows[m].add(r)
			}
			if err != nil {
				return rows, err
			}
		}
	}
	return rows, nil
}

// add adds the slice s to the row.
func (r *row) add(s row) {
	ops, secs, errs, lat := r.Ops+s.Ops, r.Seconds+s.Seconds, r.Errors+s.Errors, r.lat
	*r = s
	r.Ops, r.Seconds, r.Errors = ops, secs, errs
	r.OpsPerSec = float64(ops) / secs
	r.OpsPerSecMin, r.OpsPerSecMax, r.Count = r.OpsPerSec, r.OpsPerSec, 1
	if s.lat != nil {
		if lat == nil {
			lat = new(latencies)
		}
		lat.merge(s.lat)
	}
	r.lat = lat
	r.setPercentiles()
}

// setPercentiles sets P50us and P99us from the row's latencies (0 when
// there are none).
func (r *row) setPercentiles() {
	r.P50us, r.P99us = 0, 0
	if r.lat != nil && r.Ops > 0 {
		r.P50us, r.P99us = r.lat.percentile(0.50), r.lat.percentile(0.99)
	}
}

// measure runs one mode for a window of d and a drain of at most
// d/drainShare, and reports it as a row. If ctx ends it reports what it
// counted until then, with ctx's error.
func measure(ctx context.Context, cfg config, t target, mode string, d time.Duration, p *progress) (row, error) {
	r := row{Algorithm: t.name, Mode: mode}
	w, workers, release, err := t.prepare(mode)
	if err != nil {
		return r, fmt.Errorf("%s, %s: %w", t.name, mode, err)
	}
	defer release()

	c := &counter{fatal: t.fatal}
	p.start(t.name, mode, c)
	start := time.Now()
	window := start.Add(d)
	runCtx, cancel := context.WithDeadline(ctx, window.Add(d/drainShare))
	switch mode {
	case "sync":
		err = runSync(runCtx, w, window, c)
	case "goroutines", "unary":
		r.AsyncJobs = cfg.asyncJobs
		err = runGoroutines(runCtx, w, cfg.asyncJobs, window, c)
	default:
		r.AsyncJobs, r.Workers = cfg.asyncJobs, workers
		err = runAsync(runCtx, w, modes[mode].loop, cfg.asyncJobs, window, c)
	}
	cancel()
	elapsed := time.Since(start)
	p.stop()
	if err != nil {
		return r, fmt.Errorf("%s, %s: %w", t.name, mode, err)
	}
	r.Ops, r.Seconds, r.Errors = c.count(), elapsed.Seconds(), c.errs.Load()
	r.OpsPerSec = float64(r.Ops) / r.Seconds
	r.lat = &c.lat
	r.setPercentiles()
	return r, ctx.Err()
}
