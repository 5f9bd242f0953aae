//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The smoke tests run both benchmark programs with tiny counts and check
// that each prints all four metrics. They assert nothing about speed.

var metricNames = []string{"pause_resume_ns", "start_finish_ns", "create_paused_ns", "rss_per_paused_bytes"}

// smokeArgs keeps a run well under a second, even on a slow machine.
var smokeArgs = []string{"-n", "2000", "-N", "20000", "-r", "1"}

func checkMetrics(t *testing.T, who string, out []byte) {
	t.Helper()
	got := map[string]float64{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Errorf("%s: line %q is not \"metric value unit\"", who, line)
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			t.Errorf("%s: line %q: %v", who, line, err)
			continue
		}
		got[f[0]] = v
	}
	for _, name := range metricNames {
		v, ok := got[name]
		if !ok {
			t.Errorf("%s: metric %s missing from output:\n%s", who, name, out)
		} else if strings.HasSuffix(name, "_ns") && v <= 0 {
			t.Errorf("%s: %s = %v, want > 0", who, name, v)
		}
	}
}

func run(t *testing.T, who, bin string) {
	t.Helper()
	cmd := exec.Command(bin, smokeArgs...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", who, err, stderr.String())
	}
	checkMetrics(t, who, out)
}

// TestGoSide builds this program with plain `go build` (no -race, so the
// race detector does not slow it down) and runs it.
func TestGoSide(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipped: no go command in PATH to build bench/gojobs with")
	}
	bin := filepath.Join(t.TempDir(), "gojobs")
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run(t, "gojobs", bin)
}

// TestCSide builds bench/c/async_bench.c against the system libcrypto and
// runs it; it is skipped when the OpenSSL headers or gcc are missing.
func TestCSide(t *testing.T) {
	const header = "/usr/include/openssl/async.h"
	if _, err := os.Stat(header); err != nil {
		t.Skipf("OpenSSL headers not installed (%s missing); run bash bench/compare.sh, which installs libssl-dev, then re-run", header)
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found; run bash bench/compare.sh, which installs it, then re-run")
	}
	src, err := filepath.Abs(filepath.Join("..", "c", "async_bench.c"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "async_bench")
	if out, err := exec.Command(gcc, "-O2", "-o", bin, src, "-lcrypto").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	run(t, "async_bench", bin)
}

// TestCompareQuick runs compare.sh --quick, at a small job count: the
// create_paused row, whose target is set at 1M jobs, is shown but not
// judged, so the quick mode does not report a FAIL that only says the
// count was small. It is skipped rather than let compare.sh install the
// OpenSSL headers or gcc.
func TestCompareQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: runs both benchmark programs for a few seconds")
	}
	if _, err := os.Stat("/usr/include/openssl/async.h"); err != nil {
		t.Skip("OpenSSL headers not installed; run bash bench/compare.sh, which installs libssl-dev, then re-run")
	}
	for _, tool := range []string{"gcc", "go", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found in PATH", tool)
		}
	}
	out, err := exec.Command("bash", filepath.Join("..", "compare.sh"), "--quick", "-n", "5000").CombinedOutput()
	if err != nil {
		t.Fatalf("compare.sh --quick: %v\n%s", err, out)
	}
	var row string
	for line := range strings.Lines(string(out)) {
		if strings.HasPrefix(line, "create_paused_ns ") {
			row = line
		}
	}
	if !strings.Contains(row, "not judged") || strings.Contains(row, "FAIL") || strings.Contains(row, "PASS") {
		t.Errorf("create_paused row at 5000 jobs: %q, want it shown and not judged\n%s", row, out)
	}
	if !strings.Contains(string(out), "of 3 targets met") {
		t.Errorf("the summary should count the 3 judged targets:\n%s", out)
	}
}
