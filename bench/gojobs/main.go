//go:build linux

// Command gojobs is the Go half of bench/compare.sh: it measures this
// module's job API with the same four metrics, names and output format as
// bench/c/async_bench.c measures OpenSSL's ASYNC_* functions. It is
// Linux-only (it reads /proc/self/statm), as compare.sh is.
//
// Output: one line per metric, "metric_name value unit", on stdout; extra
// diagnostics (heap and stack figures) go to stderr as lines starting "#".
//
// Usage: gojobs [-m metrics] [-n jobs] [-N iters] [-r runs]
//
//	-m  comma-separated list of pause_resume, start_finish, create_paused
//	    (create_paused also prints rss_per_paused_bytes), or "all" (default).
//	    With "all", create_paused runs first so that it sees a fresh process.
//	-n  number of paused jobs for create_paused (default 1000000)
//	-N  iterations for pause_resume and start_finish (default 5000000)
//	-r  runs for pause_resume and start_finish; the best is reported (3)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/seed-e1024768/async"
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gojobs: "+format+"\n", args...)
	os.Exit(1)
}

// rssBytes is the resident set size from /proc/self/statm (second field,
// in pages), read after a runtime.GC so that garbage does not count.
func rssBytes() int64 {
	runtime.GC()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		die("%v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		die("cannot parse /proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		die("cannot parse /proc/self/statm: %v", err)
	}
	return pages * int64(os.Getpagesize())
}

// pauseResume: one job pauses iters times; the main loop resumes it.
func pauseResume(iters int) float64 {
	var pool async.Pool // the zero Pool, as OpenSSL's default per-thread pool
	defer pool.Close()
	wctx := async.NewWaitCtx()
	defer wctx.Free()
	loop := func(ctx context.Context, args []byte) int {
		for range iters {
			if err := async.PauseJob(ctx); err != nil {
				return 0
			}
		}
		return 1
	}
	ctx := context.Background()
	var job *async.Job
	pauses := 0
	t0 := time.Now()
	for {
		st, ret, err := pool.StartJob(ctx, &job, wctx, loop, nil)
		if st == async.Pause {
			pauses++
			continue
		}
		if st == async.Finish && ret == 1 {
			break
		}
		die("pause_resume: StartJob = %v, %d, %v", st, ret, err)
	}
	d := time.Since(t0)
	if pauses != iters {
		die("pause_resume: %d pauses, want %d", pauses, iters)
	}
	return float64(d.Nanoseconds()) / float64(iters)
}

func returnAtOnce(ctx context.Context, args []byte) int { return int(args[0]) + 1 }

// startFinish: pooled start of a job that returns at once, with 8 bytes of
// args, through NewPool(1, 1) like ASYNC_init_thread(1, 1).
func startFinish(pool *async.Pool, iters int) float64 {
	wctx := async.NewWaitCtx()
	defer wctx.Free()
	args := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	ctx := context.Background()
	t0 := time.Now()
	for range iters {
		var job *async.Job
		st, ret, err := pool.StartJob(ctx, &job, wctx, returnAtOnce, args)
		if st != async.Finish || ret != 2 {
			die("start_finish: StartJob = %v, %d, %v", st, ret, err)
		}
	}
	d := time.Since(t0)
	return float64(d.Nanoseconds()) / float64(iters)
}

func pauseOnce(ctx context.Context, args []byte) int {
	if async.PauseJob(ctx) != nil {
		return 0
	}
	return 1
}

// createPaused: n jobs on a zero Pool, each with its own WaitCtx, all left
// paused; then RSS per paused job; then every job is resumed to finish.
func createPaused(n int) {
	var pool async.Pool
	jobs := make([]*async.Job, n)
	wctxs := make([]*async.WaitCtx, n)
	args := make([]byte, 8)
	ctx := context.Background()
	// Make the handle arrays resident before the first RSS reading.
	clear(jobs)
	clear(wctxs)

	before := rssBytes()
	t0 := time.Now()
	for i := range n {
		wctxs[i] = async.NewWaitCtx()
		st, _, err := pool.StartJob(ctx, &jobs[i], wctxs[i], pauseOnce, args)
		if st != async.Pause {
			die("create_paused: StartJob = %v, %v", st, err)
		}
	}
	d := time.Since(t0)
	after := rssBytes()

	fmt.Printf("create_paused_ns %.1f ns/op\n", float64(d.Nanoseconds())/float64(n))
	fmt.Printf("rss_per_paused_bytes %.1f bytes/job\n", float64(after-before)/float64(n))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(os.Stderr, "# go create_paused: n=%d goroutines=%d rss_delta=%d StackInuse=%d HeapInuse=%d Sys=%d paused=%d\n",
		n, runtime.NumGoroutine(), after-before, ms.StackInuse, ms.HeapInuse, ms.Sys, pool.Stats().Paused)

	t0 = time.Now()
	for i := range n {
		st, ret, err := pool.StartJob(ctx, &jobs[i], nil, nil, nil)
		if st != async.Finish || ret != 1 {
			die("create_paused: resume = %v, %d, %v", st, ret, err)
		}
		wctxs[i].Free()
	}
	fmt.Fprintf(os.Stderr, "# go create_paused: resume+finish+free %.1f ns/job\n",
		float64(time.Since(t0).Nanoseconds())/float64(n))
	if err := pool.Close(); err != nil {
		die("create_paused: Close: %v", err)
	}
}

func wants(list, name string) bool {
	if list == "all" {
		return true
	}
	for m := range strings.SplitSeq(list, ",") {
		if m == name {
			return true
		}
	}
	return false
}

// count is a flag.Value for a positive count that also accepts "5e6".
type count struct{ n *int }

func (c count) String() string {
	if c.n == nil {
		return "0"
	}
	return strconv.Itoa(*c.n)
}

func (c count) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 1 || v > 1<<40 {
		return fmt.Errorf("want a positive count, got %q", s)
	}
	*c.n = int(v)
	return nil
}

func main() {
	metrics := flag.String("m", "all", "metrics: comma-separated pause_resume, start_finish, create_paused, or all")
	jobs, iters, runs := 1000000, 5000000, 3
	flag.Var(count{&jobs}, "n", "number of paused jobs for create_paused")
	flag.Var(count{&iters}, "N", "iterations for pause_resume and start_finish")
	flag.Var(count{&runs}, "r", "runs for pause_resume and start_finish (best is reported)")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if !async.IsCapable() {
		die("async.IsCapable() is false")
	}

	// create_paused first: it wants a process whose heap is still fresh.
	if wants(*metrics, "create_paused") {
		createPaused(jobs)
	}

	if wants(*metrics, "pause_resume") {
		best := 0.0
		for r := range runs {
			if v := pauseResume(iters); r == 0 || v < best {
				best = v
			}
		}
		fmt.Printf("pause_resume_ns %.1f ns/op\n", best)
	}

	if wants(*metrics, "start_finish") {
		pool, err := async.NewPool(1, 1)
		if err != nil {
			die("NewPool(1, 1): %v", err)
		}
		best := 0.0
		for r := range runs {
			if v := startFinish(pool, iters); r == 0 || v < best {
				best = v
			}
		}
		if err := pool.Close(); err != nil {
			die("start_finish: Close: %v", err)
		}
		fmt.Printf("start_finish_ns %.1f ns/op\n", best)
	}
}
