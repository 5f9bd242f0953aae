// Command asyncspeed measures what the async job API is worth on real
// crypto, in the spirit of `openssl speed -async_jobs`.
//
// Usage:
//
//	asyncspeed [-seconds N] [-async_jobs N] [-mode fd|callback|poll] [-workers N] [-json] [algorithm ...]
//
// For each algorithm (all of them when none is named) it measures three
// ways of doing the same operations, for -seconds each (in slices of about
// 100ms taken in turn, so that a machine whose speed drifts skews every
// row alike and the ratios between them hold):
//
//   - sync: one after another on one goroutine, as `openssl speed`
//     without -async_jobs;
//   - async: -async_jobs jobs in flight, driven by one event loop
//     (package loop) through an async-aware engine (package offload)
//     whose -workers goroutines do the work; the loop waits on wait fds,
//     on callbacks or by polling, as -mode says (each of the three in
//     turn when -mode is not given);
//   - goroutines: the plain Go alternative, one goroutine per operation,
//     -async_jobs at a time.
//
// and prints a table of operations per second. On a terminal it shows its
// progress as it goes. With -json it prints one JSON object per
// measurement instead, with the fields algorithm, mode (sync, goroutines,
// fd, callback or poll), async_jobs, workers, ops, seconds and
// ops_per_sec, and nothing else on standard output.
//
// Algorithms, named as openssl speed names them: ecdsap256, ed25519,
// rsa2048, sha256, aes-128-gcm.
//
// Bad flags or an unknown algorithm: a message on standard error and exit
// status 2. A failed operation: exit status 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async/loop"
)

type config struct {
	duration   time.Duration
	asyncJobs  int
	modes      []string // async modes to measure: -mode, or all three
	workers    int
	json       bool
	algorithms []algorithm
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr)))
}

// errUsage marks an error in the command line: exit status 2.
var errUsage = errors.New("usage")

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, terminal bool) int {
	cfg, err := parse(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	var rows []row
	p := newProgress(stderr, terminal)
	enc := json.NewEncoder(stdout)
	for _, a := range cfg.algorithms {
		o, err := a.setup()
		if err != nil {
			fmt.Fprintf(stderr, "asyncspeed: %s: setting up: %v\n", a.name, err)
			return 1
		}
		all := slices.Concat([]string{"sync"}, cfg.modes, []string{"goroutines"})
		rs, err := measureAll(ctx, cfg, a, o, all, p)
		if err != nil {
			fmt.Fprintf(stderr, "asyncspeed: %v\n", err)
			return 1
		}
		if cfg.json {
			for _, r := range rs {
				if err := enc.Encode(r); err != nil {
					fmt.Fprintf(stderr, "asyncspeed: %v\n", err)
					return 1
				}
			}
		}
		rows = append(rows, rs...)
	}
	if !cfg.json {
		if err := printTable(stdout, cfg, rows); err != nil {
			fmt.Fprintf(stderr, "asyncspeed: %v\n", err)
			return 1
		}
	}
	return 0
}

func parse(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("asyncspeed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seconds := fs.Float64("seconds", 0.2, "seconds to measure each row")
	jobs := fs.Int("async_jobs", 16, "jobs (and goroutines) in flight")
	mode := fs.String("mode", "", "how the event loop waits for paused jobs: fd, callback or poll (default: all three)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "engine worker goroutines")
	asJSON := fs.Bool("json", false, "print one JSON object per row, and nothing else on standard output")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: asyncspeed [-seconds N] [-async_jobs N] [-mode fd|callback|poll] [-workers N] [-json] [algorithm ...]\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nalgorithms (all when none is named):\n%s", describeAlgorithms())
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	cfg := config{
		duration:  time.Duration(*seconds * float64(time.Second)),
		asyncJobs: *jobs,
		workers:   *workers,
		json:      *asJSON,
	}
	bad := func(format string, a ...any) (config, error) {
		fmt.Fprintf(stderr, "asyncspeed: "+format+"\n", a...)
		fmt.Fprintf(stderr, "run 'asyncspeed -h' for usage\n")
		return config{}, errUsage
	}
	switch {
	case !(*seconds > 0) || *seconds > 24*3600:
		return bad("-seconds must be more than 0 (and at most a day), not %v", *seconds)
	case cfg.asyncJobs < 1 || cfg.asyncJobs > loop.MaxInFlight:
		return bad("-async_jobs must be from 1 to %d, not %d", loop.MaxInFlight, cfg.asyncJobs)
	case cfg.workers < 1:
		return bad("-workers must be at least 1, not %d", cfg.workers)
	}
	switch _, ok := modes[*mode]; {
	case *mode == "":
		cfg.modes = []string{"fd", "callback", "poll"}
	case ok:
		cfg.modes = []string{*mode}
	default:
		return bad("unknown -mode %q: want fd, callback or poll", *mode)
	}
	if fs.NArg() == 0 {
		cfg.algorithms = algorithms
	}
	for _, name := range fs.Args() {
		a, ok := findAlgorithm(name)
		if !ok {
			return bad("unknown algorithm %q: known are %s", name, algorithmNames())
		}
		cfg.algorithms = append(cfg.algorithms, a)
	}
	return cfg, nil
}

// printTable prints the rows as a table, one line per algorithm, with
// each async mode's and the goroutines' ops/s also as a multiple of sync.
func printTable(w io.Writer, cfg config, rows []row) error {
	fmt.Fprintf(w, "asyncspeed: %d CPUs, %d async jobs, %d workers, %.2gs per measurement\n",
		runtime.GOMAXPROCS(0), cfg.asyncJobs, cfg.workers, cfg.duration.Seconds())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "algorithm\tsync ops/s\t")
	for _, m := range cfg.modes {
		fmt.Fprintf(tw, "async %s ops/s\t", m)
	}
	fmt.Fprint(tw, "goroutines ops/s\t\n")
	perAlgorithm := len(cfg.modes) + 2
	for i := 0; i+perAlgorithm <= len(rows); i += perAlgorithm {
		sync := rows[i].OpsPerSec
		fmt.Fprintf(tw, "%s\t%.0f\t", rows[i].Algorithm, sync)
		for _, r := range rows[i+1 : i+perAlgorithm] {
			fmt.Fprintf(tw, "%.0f (%.2fx)\t", r.OpsPerSec, r.OpsPerSec/sync)
		}
		fmt.Fprint(tw, "\n")
	}
	return tw.Flush()
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
