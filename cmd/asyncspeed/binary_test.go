//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/signtest"
)

// These tests run the real command, built without -race (which would slow
// the cryptography down tenfold), as a user runs it.

// buildBinary builds asyncspeed into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin, err := signtest.Build(t.TempDir(), "asyncspeed", ".")
	if errors.Is(err, signtest.ErrNoGo) {
		t.Skip("skipped:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// runBinary runs bin with args, killing it after limit, and returns its
// exit status (-1 when a signal ended it), stdout and stderr.
func runBinary(t *testing.T, bin string, limit time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("asyncspeed %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("asyncspeed %q still running after %v; killed. stderr:\n%s", args, limit, stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// parseRows parses -json output, one row per line.
func parseRows(t *testing.T, stdout string) []row {
	t.Helper()
	var rows []row
	for line := range strings.Lines(stdout) {
		var r row
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	return rows
}

// A duration too short to measure anything is refused, not measured into
// a table of NaN.
func TestBinaryRefusesTinySeconds(t *testing.T) {
	bin := buildBinary(t)
	for _, s := range []string{"0.0000001", "0", "-1", "1e-300", "0.0009"} {
		status, stdout, stderr := runBinary(t, bin, time.Minute, "-seconds", s, "sha256")
		if status != 2 || stdout != "" || !strings.Contains(stderr, "-seconds must be from 0.001 (a millisecond)") {
			t.Errorf("-seconds %s: status %d, stdout %q, stderr %q; want status 2, a message and no table", s, status, stdout, stderr)
		}
	}
	// The shortest accepted measures something in every row.
	status, stdout, stderr := runBinary(t, bin, time.Minute, "-seconds", "0.001", "-mode", "poll", "sha256")
	if status != 0 || strings.Contains(stdout, "NaN") || strings.Contains(stdout, "Inf") {
		t.Errorf("-seconds 0.001: status %d, stderr %q, table:\n%s", status, stderr, stdout)
	}
}

// -seconds holds at the most jobs in flight, on the slowest operation:
// finishing 65536 RSA signatures on one worker (or two cores) would take
// a minute or more; the bounded drain cancels them instead. What is left
// of a row beyond -seconds is the cost of canceling 65536 jobs or
// goroutines, a fraction of a second, a few on a loaded machine.
func TestBinaryDrainBounded(t *testing.T) {
	bin := buildBinary(t)
	const seconds = 0.1
	start := time.Now()
	cmd := exec.Command(bin, "-json", "-seconds", "0.1", "-async_jobs", "65536", "-workers", "1", "-mode", "fd", "rsa2048")
	// Two cores whatever the machine, so that finishing the jobs would
	// take a minute or more here too.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("%v after %v: %s", err, elapsed, stderr.String())
	}
	if elapsed > 40*time.Second {
		t.Errorf("took %v for three rows of %vs", elapsed, seconds)
	}
	rows := parseRows(t, string(stdout))
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3:\n%s", len(rows), stdout)
	}
	for _, r := range rows {
		if r.Seconds < seconds || r.Seconds > 15 {
			t.Errorf("%s row took %.3fs for -seconds %v", r.Mode, r.Seconds, seconds)
		}
		t.Logf("%s: %.3fs", r.Mode, r.Seconds)
	}
}

// Ctrl-C prints what was measured so far, the row cut short included, and
// exits with status 130.
func TestBinaryInterrupt(t *testing.T) {
	bin := buildBinary(t)
	t.Run("json", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "-json", "-seconds", "0.2", "-mode", "poll", "sha256", "ed25519")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// sha256's rows come out together once all three are measured;
		// interrupt while ed25519 is being measured.
		rd := bufio.NewReader(out)
		first, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the first row: %v; stderr:\n%s", err, stderr.String())
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		rest, _ := rd.ReadString(0)
		err = cmd.Wait()
		if status := cmd.ProcessState.ExitCode(); status != statusInterrupted {
			t.Fatalf("status %d (%v), want %d; stderr:\n%s", status, err, statusInterrupted, stderr.String())
		}
		if !strings.Contains(stderr.String(), "interrupted") {
			t.Errorf("stderr %q does not say it was interrupted", stderr.String())
		}
		rows := parseRows(t, first+rest)
		if len(rows) < 3 || len(rows) > 6 {
			t.Fatalf("%d rows, want sha256's 3 and what ed25519 measured:\n%s", len(rows), first+rest)
		}
		for i, r := range rows {
			want := "sha256"
			if i >= 3 {
				want = "ed25519"
			}
			if r.Algorithm != want || r.Seconds <= 0 {
				t.Errorf("row %d: %+v", i, r)
			}
		}
	})
	t.Run("table", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Measuring would take 30s; give it time to start, then interrupt.
		cmd := exec.CommandContext(ctx, bin, "-seconds", "10", "-mode", "poll", "sha256")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		start := time.Now()
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if status := cmd.ProcessState.ExitCode(); status != statusInterrupted {
			t.Fatalf("status %d (%v), want %d; stderr:\n%s", status, err, statusInterrupted, stderr.String())
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %v to stop after SIGINT", d)
		}
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		if len(lines) != 3 || !strings.HasPrefix(strings.TrimSpace(lines[2]), "sha256") ||
			strings.Contains(stdout.String(), "NaN") || strings.Contains(stdout.String(), "Inf") {
			t.Errorf("partial table:\n%s", stdout.String())
		}
	})
}

// -count N measures each row N times: the median, with min and max beside
// it, in -json and in the table.
func TestBinaryCount(t *testing.T) {
	bin := buildBinary(t)
	status, stdout, stderr := runBinary(t, bin, time.Minute, "-json", "-count", "3", "-seconds", "0.02", "-mode", "poll", "sha256")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	rows := parseRows(t, stdout)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3:\n%s", len(rows), stdout)
	}
	for _, r := range rows {
		if r.Count != 3 || !(r.OpsPerSecMin <= r.OpsPerSec && r.OpsPerSec <= r.OpsPerSecMax) || r.OpsPerSecMin <= 0 ||
			r.Seconds < 3*0.02 {
			t.Errorf("row %+v: want count 3, 0 < min <= median <= max, seconds of three runs", r)
		}
	}
	status, stdout, stderr = runBinary(t, bin, time.Minute, "-count", "2", "-seconds", "0.02", "-mode", "poll", "sha256")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	if !strings.Contains(stdout, "median [min–max] of 2 runs") || strings.Count(stdout, "–") != 4 {
		t.Errorf("table with -count 2:\n%s", stdout)
	}
}

// The usage says which openssl speed command each bulk row compares with.
func TestBinaryUsage(t *testing.T) {
	bin := buildBinary(t)
	status, _, stderr := runBinary(t, bin, time.Minute, "-h")
	for _, want := range []string{"aes-128-gcm  AES-128-GCM seal of 16 KiB (openssl speed -evp aes-128-gcm)",
		"even at -async_jobs 65536\nof rsa2048 a row takes two to three times -seconds", "-count int", "exits with status 130"} {
		if status != 0 || !strings.Contains(stderr, want) {
			t.Errorf("status %d; usage does not say %q:\n%s", status, want, stderr)
		}
	}
}
