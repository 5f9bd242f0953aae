//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/seed-e1024768/async/offload"
)

func runCmd(t *testing.T, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	status = run(context.Background(), args, &out, &errOut, false)
	return status, out.String(), errOut.String()
}

func TestBadArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-seconds", "0"}, "-seconds must be from 0.001"},
		{[]string{"-seconds", "NaN"}, "-seconds must be from 0.001"},
		{[]string{"-seconds", "0.0000001"}, "-seconds must be from 0.001"},
		{[]string{"-seconds", "-1"}, "-seconds must be from 0.001"},
		{[]string{"-count", "0"}, "-count must be at least 1"},
		{[]string{"-async_jobs", "0"}, "-async_jobs must be from 1"},
		{[]string{"-workers", "-1"}, "-workers must be at least 1"},
		{[]string{"-mode", "select"}, `unknown -mode "select"`},
		{[]string{"md5"}, `unknown algorithm "md5": known are ecdsap256, ecdsap384, ecdsap521, ed25519, rsa2048, rsa3072, rsa4096, sha256, aes-128-gcm`},
		{[]string{"-nosuchflag"}, "flag provided but not defined: -nosuchflag"},
		{[]string{"-seconds", "abc"}, "invalid value"},
	} {
		status, stdout, stderr := runCmd(t, c.args...)
		if status != 2 || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("asyncspeed %q: status %d, stdout %q, stderr %q; want 2 and %q", c.args, status, stdout, stderr, c.want)
		}
	}
	if status, _, stderr := runCmd(t, "-h"); status != 0 || !strings.Contains(stderr, "usage: asyncspeed") {
		t.Errorf("-h: status %d, stderr %q", status, stderr)
	}
}

// -json prints one object per row with exactly the documented fields, and
// nothing else on stdout.
func TestJSONRows(t *testing.T) {
	for _, mode := range []string{"fd", "callback", "poll"} {
		status, stdout, stderr := runCmd(t, "-json", "-seconds", "0.05", "-async_jobs", "4", "-workers", "2", "-mode", mode, "sha256", "ed25519")
		if status != 0 {
			t.Fatalf("mode %s: status %d: %s", mode, status, stderr)
		}
		var modes []string
		sc := bufio.NewScanner(strings.NewReader(stdout))
		for sc.Scan() {
			var fields map[string]any
			if err := json.Unmarshal(sc.Bytes(), &fields); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			keys := make([]string, 0, len(fields))
			for k := range fields {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			if want := []string{"algorithm", "async_jobs", "count", "errors", "mode", "ops", "ops_per_sec", "ops_per_sec_max", "ops_per_sec_min", "p50_us", "p99_us", "seconds", "workers"}; !slices.Equal(keys, want) {
				t.Fatalf("fields %v, want %v", keys, want)
			}
			var r row
			json.Unmarshal(sc.Bytes(), &r)
			if r.Ops == 0 || r.Seconds <= 0 || r.OpsPerSec <= 0 || r.Count != 1 || r.OpsPerSecMin != r.OpsPerSec || r.OpsPerSecMax != r.OpsPerSec {
				t.Fatalf("row measured nothing: %+v", r)
			}
			switch r.Mode {
			case "sync":
				if r.AsyncJobs != 0 || r.Workers != 0 {
					t.Errorf("sync row: %+v", r)
				}
			case "goroutines":
				if r.AsyncJobs != 4 || r.Workers != 0 {
					t.Errorf("goroutines row: %+v", r)
				}
			default:
				if r.AsyncJobs != 4 || r.Workers != 2 || r.Mode != mode {
					t.Errorf("async row: %+v", r)
				}
			}
			modes = append(modes, r.Algorithm+"/"+r.Mode)
		}
		want := []string{"sha256/sync", "sha256/" + mode, "sha256/goroutines", "ed25519/sync", "ed25519/" + mode, "ed25519/goroutines"}
		if !slices.Equal(modes, want) {
			t.Fatalf("rows %v, want %v", modes, want)
		}
	}
}

func TestTable(t *testing.T) {
	status, stdout, stderr := runCmd(t, "-seconds", "0.02", "-async_jobs", "2", "ecdsap256")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "async fd ops/s  async callback ops/s  async poll ops/s  goroutines ops/s") ||
		!strings.HasPrefix(strings.TrimSpace(lines[2]), "ecdsap256") || strings.Count(lines[2], "x)") != 4 {
		t.Fatalf("table:\n%s", stdout)
	}
}

// A measurement is taken in slices, the modes in turn: each row adds up
// its slices, and every row gets its share of -seconds.
func TestMeasureInSlices(t *testing.T) {
	var order []string
	o := func(context.Context, *offload.Engine) error { return nil }
	cfg := config{duration: 3 * sliceLen, asyncJobs: 2, workers: 1}
	p := newProgress(nil, false)
	a := algorithm{name: "nop"}
	rows, err := measureAll(context.Background(), cfg, offloadTarget(cfg, a, o, []string{"sync", "poll", "goroutines"}), p)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		order = append(order, r.Mode)
		if r.Seconds < cfg.duration.Seconds() || r.Seconds > 3*cfg.duration.Seconds() {
			t.Errorf("%s: %.3fs measured for %v", r.Mode, r.Seconds, cfg.duration)
		}
		if r.Ops == 0 || r.OpsPerSec != float64(r.Ops)/r.Seconds {
			t.Errorf("%s: %+v", r.Mode, r)
		}
	}
	if want := []string{"sync", "poll", "goroutines"}; !slices.Equal(order, want) {
		t.Errorf("rows %v, want %v", order, want)
	}
}

func TestRowAdd(t *testing.T) {
	var r row
	r.add(row{Algorithm: "x", Mode: "fd", AsyncJobs: 4, Workers: 2, Ops: 10, Seconds: 1})
	r.add(row{Algorithm: "x", Mode: "fd", AsyncJobs: 4, Workers: 2, Ops: 30, Seconds: 3})
	if want := (row{Algorithm: "x", Mode: "fd", AsyncJobs: 4, Workers: 2, Ops: 40, Seconds: 4, OpsPerSec: 10,
		OpsPerSecMin: 10, OpsPerSecMax: 10, Count: 1}); r != want {
		t.Errorf("sum %+v, want %+v", r, want)
	}
}

// summarize reports the median of the runs' rates, with their range, and
// the totals of their ops and seconds; runs that measured nothing (cut
// short by an interrupt) do not count.
func TestSummarize(t *testing.T) {
	run := func(ops uint64, secs float64) row {
		return row{Algorithm: "x", Mode: "poll", Ops: ops, Seconds: secs, OpsPerSec: float64(ops) / secs}
	}
	for _, c := range []struct {
		runs           []row
		median, lo, hi float64
		count          int
		ops            uint64
		seconds        float64
	}{
		{[]row{run(30, 1), run(10, 1), run(20, 1)}, 20, 10, 30, 3, 60, 3},
		{[]row{run(40, 1), run(10, 1), run(20, 1), run(30, 1)}, 25, 10, 40, 4, 100, 4},
		{[]row{run(10, 2), {}, run(40, 2)}, 12.5, 5, 20, 2, 50, 4},
		{[]row{run(7, 1)}, 7, 7, 7, 1, 7, 1},
	} {
		r := summarize(c.runs)
		if r.OpsPerSec != c.median || r.OpsPerSecMin != c.lo || r.OpsPerSecMax != c.hi || r.Count != c.count ||
			r.Ops != c.ops || r.Seconds != c.seconds || r.Algorithm != "x" || r.Mode != "poll" {
			t.Errorf("summarize(%v) = %+v; want median %v in [%v, %v] of %d runs, %d ops in %vs",
				c.runs, r, c.median, c.lo, c.hi, c.count, c.ops, c.seconds)
		}
	}
	if r := summarize([]row{{}, {}}); r.Seconds != 0 || r.Count != 0 {
		t.Errorf("summarize of runs that measured nothing = %+v, want no Seconds", r)
	}
}

// A table with a row never measured (interrupted first) shows "-" there,
// never NaN or Inf; with -count it shows each cell's range.
func TestTableCells(t *testing.T) {
	cfg := config{duration: sliceLen, count: 2, asyncJobs: 4, workers: 2, modes: []string{"poll"}}
	groups := [][]row{
		{
			{Algorithm: "a", Mode: "sync", Seconds: 1, OpsPerSec: 100, OpsPerSecMin: 90, OpsPerSecMax: 110, Count: 2},
			{Algorithm: "a", Mode: "poll", Seconds: 1, OpsPerSec: 150, OpsPerSecMin: 140, OpsPerSecMax: 160, Count: 2},
			{Algorithm: "a", Mode: "goroutines", Seconds: 1, OpsPerSec: 50, OpsPerSecMin: 50, OpsPerSecMax: 50, Count: 1},
		},
		{{Algorithm: "b", Mode: "sync", Seconds: 0.1, Count: 1}, {Mode: "poll"}, {Mode: "goroutines"}},
		{{}, {}, {}},
	}
	var b bytes.Buffer
	if err := printTable(&b, cfg, "asyncspeed: test", localModes(cfg), groups); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "median [min–max] of 2 runs") ||
		!strings.Contains(lines[2], "100 [90–110]") || !strings.Contains(lines[2], "150 [140–160] (1.50x)") ||
		!strings.Contains(lines[2], "50 (0.50x)") || strings.Count(lines[3], "-") != 2 ||
		strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
		t.Errorf("table:\n%s", out)
	}
}
