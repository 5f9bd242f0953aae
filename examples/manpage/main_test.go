//go:build linux

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// want is the output the man page gives for its example program.
const want = `Starting...
Executing within a job
Passed in message is: Hello world!
Job was paused
Waiting for the job to be woken up
Resumed the job after a pause
Job finished with return value 1
Finishing
`

func TestRunOutput(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out); err != nil {
		t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Errorf("output differs from the man page's\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// TestRunNoFDLeak checks that Free's cleanup closes both ends of the pipe:
// the process has as many open fds after run as before.
func TestRunNoFDLeak(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skipf("cannot count open fds: %v", err)
	}
	// A first run lets the runtime and the packages open whatever they open
	// once, so that only a leak per run is counted.
	if err := run(new(bytes.Buffer)); err != nil {
		t.Fatalf("run: %v", err)
	}
	before := openFDs(t)
	const runs = 3
	for i := 0; i < runs; i++ {
		var out bytes.Buffer
		if err := run(&out); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if out.String() != want {
			t.Fatalf("run %d: output differs from the man page's:\n%s", i, out.String())
		}
	}
	after := openFDs(t)
	if len(after) != len(before) {
		t.Errorf("%d runs changed the open fds from %d to %d\nbefore: %s\nafter:  %s",
			runs, len(before), len(after), strings.Join(before, " "), strings.Join(after, " "))
	}
}

// openFDs lists the open fds of the process as "fd->target", in fd order. The fd
// that reading /proc/self/fd opens is in every list alike.
func openFDs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("reading /proc/self/fd: %v", err)
	}
	sort.Slice(entries, func(i, j int) bool {
		a, _ := strconv.Atoi(entries[i].Name())
		b, _ := strconv.Atoi(entries[j].Name())
		return a < b
	})
	fds := make([]string, 0, len(entries))
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			target = "?" // the directory's own fd, closed by now
		}
		fds = append(fds, e.Name()+"->"+target)
	}
	return fds
}
