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
	Ops       uint64  `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
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

// counter counts operations as they complete, for the result and for the
// progress display, which reads it from another goroutine.
type counter struct{ n atomic.Uint64 }

func (c *counter) add()          { c.n.Add(1) }
func (c *counter) count() uint64 { return c.n.Load() }

// runSync does the operations one after another on this goroutine, outside
// any job, so the engine computes them on the caller.
func runSync(ctx context.Context, o op, e *offload.Engine, d time.Duration, c *counter) error {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if err := o(ctx, e); err != nil {
			return err
		}
		c.add()
	}
	return nil
}

// runAsync keeps jobs jobs in flight through the engine, driven by the
// event loop on this goroutine.
func runAsync(ctx context.Context, o op, e *offload.Engine, mode loop.Mode, jobs int, d time.Duration, c *counter) error {
	var failed error
	fn := func(ctx context.Context, _ []byte) int {
		if err := o(ctx, e); err != nil {
			if failed == nil {
				failed = err // the jobs run on this goroutine, one at a time
			}
			return 0
		}
		return 1
	}
	deadline := time.Now().Add(d)
	next := func() (loop.Task, bool) {
		if failed != nil || !time.Now().Before(deadline) {
			return loop.Task{}, false
		}
		return loop.Task{Fn: fn}, true
	}
	done := func(r loop.Result) {
		switch {
		case r.Err != nil:
			if failed == nil {
				failed = r.Err
			}
		case r.Ret == 1:
			c.add()
		}
	}
	if err := loop.Run(ctx, loop.Config{InFlight: jobs, Mode: mode}, next, done); err != nil {
		return err
	}
	return failed
}

// runGoroutines is the plain Go alternative: one goroutine per operation,
// at most jobs at a time, each doing the work itself.
func runGoroutines(ctx context.Context, o op, e *offload.Engine, jobs int, d time.Duration, c *counter) error {
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	var once sync.Once
	var failed error
	var stop atomic.Bool
	for deadline := time.Now().Add(d); time.Now().Before(deadline) && !stop.Load(); {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := o(ctx, e); err != nil {
				once.Do(func() { failed = err })
				stop.Store(true)
				return
			}
			c.add()
		}()
	}
	wg.Wait()
	return failed
}

// sliceLen is about how long one slice of a measurement lasts: measureAll
// splits -seconds into slices and takes the modes in turn, slice by slice.
const sliceLen = 100 * time.Millisecond

// measureAll measures each of modes for cfg.duration, in turns of about
// sliceLen, and reports one row per mode, in the order given.
func measureAll(ctx context.Context, cfg config, a algorithm, o op, modes []string, p *progress) ([]row, error) {
	n := max(1, min(int((cfg.duration+sliceLen/2)/sliceLen), 50))
	rows := make([]row, len(modes))
	for i := range n {
		// Slices share the duration out exactly: the last takes the rest.
		d := cfg.duration / time.Duration(n)
		if i == n-1 {
			d = cfg.duration - d*time.Duration(n-1)
		}
		for m, mode := range modes {
			r, err := measure(ctx, cfg, a, o, mode, d, p)
			if err != nil {
				return nil, err
			}
			rows[m].add(r)
		}
	}
	return rows, nil
}

// add adds the slice r to the row.
func (r *row) add(s row) {
	ops, secs := r.Ops+s.Ops, r.Seconds+s.Seconds
	*r = s
	r.Ops, r.Seconds = ops, secs
	r.OpsPerSec = float64(ops) / secs
}

// measure runs one mode for d and reports it as a row.
func measure(ctx context.Context, cfg config, a algorithm, o op, mode string, d time.Duration, p *progress) (row, error) {
	r := row{Algorithm: a.name, Mode: mode}
	engineCfg := offload.Config{Workers: cfg.workers, AppParks: true} // package loop parks
	if m, ok := modes[mode]; ok {
		engineCfg.Notify = m.notify
	}
	e, err := offload.New(engineCfg)
	if err != nil {
		return r, err
	}
	defer e.Close()

	var c counter
	p.start(a.name, mode, &c)
	start := time.Now()
	switch mode {
	case "sync":
		err = runSync(ctx, o, e, d, &c)
	case "goroutines":
		r.AsyncJobs = cfg.asyncJobs
		err = runGoroutines(ctx, o, e, cfg.asyncJobs, d, &c)
	default:
		r.AsyncJobs, r.Workers = cfg.asyncJobs, e.Config().Workers
		err = runAsync(ctx, o, e, modes[mode].loop, cfg.asyncJobs, d, &c)
	}
	elapsed := time.Since(start)
	p.stop()
	if err != nil {
		return r, fmt.Errorf("%s, %s: %w", a.name, mode, err)
	}
	r.Ops, r.Seconds = c.count(), elapsed.Seconds()
	r.OpsPerSec = float64(r.Ops) / r.Seconds
	return r, nil
}
