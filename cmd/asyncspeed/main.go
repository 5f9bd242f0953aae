//go:build linux

// Command asyncspeed measures what the async job API is worth on real
// crypto, in the spirit of `openssl speed -async_jobs`. It is Linux-only
// (eventfd, epoll), as the packages it drives are.
//
// Usage:
//
//	asyncspeed [-seconds N] [-count N] [-async_jobs N] [-mode fd|callback|poll] [-workers N] [-json]
//	           [-remote ADDR[,ADDR...] -remote-dir DIR [-remote-client NAME] | -remote embedded [-remote-delay D]]
//	           [algorithm ...]
//
// For each algorithm (when none is named, all but the larger keys) it
// measures three ways of doing the same operations, for -seconds each (in
// slices of about 100ms taken in turn, so that a machine whose speed
// drifts skews every row alike and the ratios between them hold):
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
// progress as it goes. With -json it prints one JSON object per row
// instead, with the fields algorithm, mode (sync, goroutines, fd, callback,
// poll, or unary), async_jobs, workers, ops, seconds, ops_per_sec,
// ops_per_sec_min, ops_per_sec_max, count, errors (operations that failed
// without ending the run: a remote signer's timeouts), p50_us and p99_us
// (the median and 99th percentile latency of an operation, in
// microseconds), and nothing else on standard output.
//
// # Remote signing
//
// With -remote it measures ecdsap256, ecdsap384, ecdsap521, ed25519,
// rsa2048, rsa3072 and rsa4096 (those named, or when none is, ecdsap256,
// ed25519 and rsa2048) through a remote signer, cmd/asyncsignd, with package remote:
// the same rows, the async ones through the remote engine's jobs, and one
// more, unary: one goroutine per operation, each a plain unary SignOne
// gRPC call, as most programs call a signing service. -remote takes the
// signers' addresses, comma-separated (the engine spreads the requests
// over them), and -remote-dir the deployment directory made by `asyncsignd
// init` (or a client directory `asyncsignd client` wrote), of which it
// reads only signer-ca.pem, client.pem, client-key.pem and certs/ (the key
// IDs are those of the certificates' public keys). -remote-client NAME
// measures as the client NAME, from DIR/clients/NAME: a key the signer's
// policy does not let it use is an error that names the key (exit status
// 1).
// -remote embedded starts a signer inside the process, on loopback, with
// a throwaway deployment in a temporary directory, removed at the end;
// -remote-delay (1ms by default) makes it wait that long before signing
// each request, as a hardware module or a signer across a network would.
// Run with no arguments at all, asyncspeed measures every local algorithm
// and then ed25519 through such an embedded signer, which shows where
// async jobs pay most: operations that wait rather than compute.
//
// A signer that refuses this client's certificate, or whose certificate
// this client refuses, is an error that says so (exit status 1), found by
// signing once with each key before measuring.
//
// -seconds holds whatever -async_jobs is: when a slice's measuring window
// closes no more work starts, and the work still in flight gets at most a
// tenth of the slice's length to finish (the drain); what is left then is
// canceled and not counted. The time a row reports includes its drains,
// so the rate is operations finished per second spent. A row thus takes
// at most about 1.1 times -seconds, plus the time the event loop takes to
// cancel the jobs left, some microseconds each: with tens of thousands in
// flight, as at -async_jobs 65536 of rsa2048, where most wait for room in
// the engine's queue, rows take two to three times -seconds, not the
// minute that finishing every job would take.
//
// With -count N each row is measured N times over (all of an algorithm's
// rows once, then again); the table shows the median rate with the
// slowest and fastest run as [min–max], and in -json ops_per_sec is the
// median, ops_per_sec_min and ops_per_sec_max the extremes, count the
// number of runs, and ops and seconds the totals of all runs.
//
// Algorithms, named as openssl speed names them: ecdsap256, ecdsap384,
// ecdsap521, ed25519, rsa2048, rsa3072, rsa4096, sha256, aes-128-gcm
// (ecdsap384, ecdsap521, rsa3072 and rsa4096 only when named; P-384 signs
// a SHA-384 digest, P-521 a SHA-512 one, as TLS 1.3 pairs them). The last
// two compare with the 16384-byte column of `openssl speed sha256` and
// `openssl speed -evp aes-128-gcm` (aes-128-gcm is EVP's AES-128-GCM, not
// the low-level AES of `openssl speed aes-128-cbc`).
//
// Interrupted (SIGINT, Ctrl-C), it stops measuring, prints what it
// measured so far (the rows cut short included, over the time they ran)
// and exits with status 130. A second Ctrl-C kills it at once.
//
// Bad flags, an unknown algorithm or a -seconds under a millisecond: a
// message on standard error and exit status 2. A failed operation: exit
// status 1 (through a remote signer, only failures no retry mends, such
// as a refused certificate or an unknown key, or a row in which every
// operation failed).
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
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async/loop"
)

type config struct {
	duration   time.Duration
	count      int // runs of each row
	asyncJobs  int
	modes      []string // async modes to measure: -mode, or all three
	workers    int
	json       bool
	algorithms []algorithm // measured through package offload
	remote     remoteConfig
}

// statusInterrupted is the exit status after SIGINT, as a shell reports a
// command killed by it (128 + 2).
const statusInterrupted = 130

// minSeconds is the shortest -seconds accepted: shorter windows measure
// nothing, not even one operation.
const minSeconds = 0.001

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr)))
}

// errUsage marks an error in the command line: exit status 2.
var errUsage = errors.New("usage")

// run is the whole command; it returns the exit status. When ctx ends it
// prints what it measured so far and returns statusInterrupted.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, terminal bool) int {
	cfg, err := parse(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		return 2
	}
	m := &measurer{ctx: ctx, cfg: cfg, p: newProgress(stderr, terminal), enc: json.NewEncoder(stdout), stderr: stderr}
	var local [][]row // a row per mode, per algorithm
	for _, a := range cfg.algorithms {
		if m.interrupted || ctx.Err() != nil {
			m.interrupted = true
			break
		}
		o, err := a.setup()
		if err != nil {
			fmt.Fprintf(stderr, "asyncspeed: %s: setting up: %v\n", a.name, err)
			return 1
		}
		rs, status := m.group(offloadTarget(cfg, a, o, localModes(cfg)))
		if status != 0 {
			return status
		}
		local = append(local, rs)
	}
	var remoteRows [][]row
	var f *fleet
	if cfg.remote.addrs != nil && !m.interrupted && ctx.Err() == nil {
		f, err = openFleet(ctx, cfg)
		if err != nil {
			fmt.Fprintf(stderr, "asyncspeed: %v\n", err)
			return 1
		}
		defer f.close()
		for _, a := range cfg.remote.algorithms {
			if m.interrupted || ctx.Err() != nil {
				m.interrupted = true
				break
			}
			rs, status := m.group(f.target(cfg, a))
			if status != 0 {
				return status
			}
			if err := allFailed(rs); err != nil {
				fmt.Fprintf(stderr, "asyncspeed: %s: %v\n", f.desc, err)
				return 1
			}
			remoteRows = append(remoteRows, rs)
		}
	}
	if !cfg.json {
		if len(local) > 0 {
			title := fmt.Sprintf("asyncspeed: %d CPUs, %d async jobs, %d workers, %.2gs per measurement",
				runtime.GOMAXPROCS(0), cfg.asyncJobs, cfg.workers, cfg.duration.Seconds())
			if err := printTable(stdout, cfg, title, localModes(cfg), local); err != nil {
				fmt.Fprintf(stderr, "asyncspeed: %v\n", err)
				return 1
			}
		}
		if len(remoteRows) > 0 {
			if len(local) > 0 {
				fmt.Fprintln(stdout)
			}
			title := fmt.Sprintf("asyncspeed: %s, %d async jobs, %.2gs per measurement",
				f.desc, cfg.asyncJobs, cfg.duration.Seconds())
			if err := printTable(stdout, cfg, title, remoteModes(cfg), remoteRows); err != nil {
				fmt.Fprintf(stderr, "asyncspeed: %v\n", err)
				return 1
			}
		}
	}
	if m.interrupted {
		fmt.Fprintf(stderr, "asyncspeed: interrupted: the last rows measured less than -seconds\n")
		return statusInterrupted
	}
	return 0
}

// localModes are the rows of an algorithm measured through package
// offload, in table order.
func localModes(cfg config) []string {
	return slices.Concat([]string{"sync"}, cfg.modes, []string{"goroutines"})
}

// measurer measures groups of rows, -count times each, and prints each
// group's rows at once with -json.
type measurer struct {
	ctx         context.Context
	cfg         config
	p           *progress
	enc         *json.Encoder
	stderr      io.Writer
	interrupted bool // ctx ended: stop, and say so
}

// group measures t's rows and returns them, or a non-zero exit status
// after saying why on stderr.
func (m *measurer) group(t target) ([]row, int) {
	var runs [][]row
	for range m.cfg.count {
		rs, err := measureAll(m.ctx, m.cfg, t, m.p)
		runs = append(runs, rs)
		if err != nil && m.ctx.Err() != nil && errors.Is(err, m.ctx.Err()) {
			m.interrupted = true
			break
		}
		if err != nil {
			fmt.Fprintf(m.stderr, "asyncspeed: %v\n", err)
			return nil, 1
		}
	}
	rs := summarizeAll(runs)
	if m.cfg.json {
		for _, r := range rs {
			if r.Seconds == 0 {
				continue // never measured: interrupted first
			}
			if err := m.enc.Encode(r); err != nil {
				fmt.Fprintf(m.stderr, "asyncspeed: %v\n", err)
				return nil, 1
			}
		}
	}
	return rs, 0
}

func parse(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("asyncspeed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seconds := fs.Float64("seconds", 0.2, "seconds to measure each row (at least 0.001); in-flight work gets at most a tenth more to finish")
	count := fs.Int("count", 1, "measure each row this many times; print the median with min–max")
	jobs := fs.Int("async_jobs", 16, "jobs (and goroutines) in flight")
	mode := fs.String("mode", "", "how the event loop waits for paused jobs: fd, callback or poll (default: all three)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "engine worker goroutines")
	asJSON := fs.Bool("json", false, "print one JSON object per row, and nothing else on standard output")
	remoteAddrs := fs.String("remote", "", "measure through remote signers at `ADDR[,ADDR...]` (asyncsignd; host:port, or gRPC targets such as dns:///NAME:PORT), or \"embedded\" for one started in this process")
	remoteDir := fs.String("remote-dir", "", "with -remote ADDR: the deployment `DIR` with signer-ca.pem, client.pem, client-key.pem and certs/")
	remoteDelay := fs.Duration("remote-delay", time.Millisecond, "the embedded signer's delay before it signs a request")
	remoteClient := fs.String("remote-client", "", "with -remote-dir: measure as the client `NAME`, from DIR/clients/NAME (asyncsignd client)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: asyncspeed [-seconds N] [-count N] [-async_jobs N] [-mode fd|callback|poll] [-workers N] [-json]\n"+
			"                  [-remote ADDR[,ADDR...] -remote-dir DIR [-remote-client NAME] | -remote embedded [-remote-delay D]]\n"+
			"                  [algorithm ...]\n\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nalgorithms (when none is named, those without *), as openssl speed names them:\n%s", describeAlgorithms())
		fmt.Fprintf(stderr, "\nA row measures for -seconds, then gives the work still in flight at most a tenth\n"+
			"of that to finish and cancels the rest, some µs per job: even at -async_jobs %d\n"+
			"of rsa2048 a row takes two to three times -seconds, not the minute finishing would.\n"+
			"Ctrl-C prints what was measured so far and exits with status %d.\n", loop.MaxInFlight, statusInterrupted)
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	cfg := config{
		duration:  time.Duration(*seconds * float64(time.Second)),
		count:     *count,
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
	case !(*seconds >= minSeconds) || *seconds > 24*3600:
		return bad("-seconds must be from %g (a millisecond) to 86400 (a day), not %v", minSeconds, *seconds)
	case cfg.count < 1:
		return bad("-count must be at least 1, not %d", cfg.count)
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
	var named []algorithm
	for _, name := range fs.Args() {
		a, ok := findAlgorithm(name)
		if !ok {
			return bad("unknown algorithm %q: known are %s", name, algorithmNames())
		}
		named = append(named, a)
	}
	rc := &cfg.remote
	rc.delay = *remoteDelay
	switch {
	case *remoteDelay < 0:
		return bad("-remote-delay must not be negative, not %v", *remoteDelay)
	case *remoteAddrs == "" && *remoteDir != "":
		return bad("-remote-dir needs -remote ADDR")
	case *remoteClient != "" && *remoteDir == "":
		return bad("-remote-client needs -remote ADDR and -remote-dir DIR")
	case strings.ContainsRune(*remoteClient, '/') || *remoteClient == "." || *remoteClient == "..":
		return bad("bad -remote-client %q: want the name of a client of DIR/clients", *remoteClient)
	case *remoteAddrs == "" && fs.NArg() == 0:
		// The default run: every algorithm here, and where async jobs
		// pay most, a signer across a (loopback) network.
		cfg.algorithms = defaultAlgorithms()
		rc.addrs = []string{embedded}
		rc.algorithms = []algorithm{mustAlgorithm("ed25519")}
		return cfg, nil
	case *remoteAddrs == "":
		cfg.algorithms = named
		return cfg, nil
	case *remoteAddrs == embedded && *remoteDir != "":
		return bad("-remote-dir is for a running signer; -remote embedded makes its own")
	case *remoteAddrs != embedded && *remoteDir == "":
		return bad("-remote ADDR needs -remote-dir DIR (its signer-ca.pem, client.pem, client-key.pem and certs/)")
	}
	rc.addrs, rc.dir, rc.client = strings.Split(*remoteAddrs, ","), *remoteDir, *remoteClient
	for _, a := range rc.addrs {
		if a == "" || (a == embedded && len(rc.addrs) > 1) {
			return bad("bad -remote %q: want ADDR[,ADDR...] or embedded", *remoteAddrs)
		}
	}
	if len(named) == 0 {
		for _, a := range defaultAlgorithms() {
			if _, ok := remoteAlgorithms[a.name]; ok {
				named = append(named, a)
			}
		}
	}
	for _, a := range named {
		if _, ok := remoteAlgorithms[a.name]; !ok {
			return bad("a remote signer does not offer %s: it offers ecdsap256, ecdsap384, ecdsap521, ed25519, rsa2048, rsa3072 and rsa4096", a.name)
		}
	}
	rc.algorithms = named
	return cfg, nil
}

// printTable prints the rows under title as a table, one line per
// algorithm, with each row's ops/s also as a multiple of sync. The columns
// are cols, the groups' modes. A row never measured (interrupted first)
// shows as "-"; an algorithm with no row measured is left out.
func printTable(w io.Writer, cfg config, title string, cols []string, groups [][]row) error {
	fmt.Fprint(w, title)
	if cfg.count > 1 {
		fmt.Fprintf(w, ", median [min–max] of %d runs", cfg.count)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "algorithm\t")
	for _, c := range cols {
		if _, async := modes[c]; async {
			fmt.Fprintf(tw, "async %s ops/s\t", c)
		} else {
			fmt.Fprintf(tw, "%s ops/s\t", c)
		}
	}
	fmt.Fprint(tw, "\n")
	for _, g := range groups {
		if len(g) == 0 || g[0].Seconds == 0 {
			continue
		}
		sync := g[0]
		fmt.Fprintf(tw, "%s\t%s\t", sync.Algorithm, cell(sync))
		for _, r := range g[1:] {
			c := cell(r)
			if r.Seconds > 0 && sync.OpsPerSec > 0 {
				c += fmt.Sprintf(" (%.2fx)", r.OpsPerSec/sync.OpsPerSec)
			}
			fmt.Fprintf(tw, "%s\t", c)
		}
		fmt.Fprint(tw, "\n")
	}
	return tw.Flush()
}

// cell formats a row's rate: the median and, over several runs, the range.
func cell(r row) string {
	switch {
	case r.Seconds == 0:
		return "-"
	case r.Count > 1:
		return fmt.Sprintf("%.0f [%.0f–%.0f]", r.OpsPerSec, r.OpsPerSecMin, r.OpsPerSecMax)
	}
	return fmt.Sprintf("%.0f", r.OpsPerSec)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
