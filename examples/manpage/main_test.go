//go:build linux

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/seed-e1024768/async/internal/leaktest"
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
	// A first run lets the runtime and the packages open whatever they open
	// once, so that only a leak per run is counted.
	if err := run(new(bytes.Buffer)); err != nil {
		t.Fatalf("run: %v", err)
	}
	before := leaktest.OpenFDs(t)
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
	after := leaktest.OpenFDs(t)
	if len(after) != len(before) {
		t.Errorf("%d runs changed the open fds from %d to %d\nbefore: %s\nafter:  %s",
			runs, len(before), len(after), strings.Join(before, " "), strings.Join(after, " "))
	}
}
