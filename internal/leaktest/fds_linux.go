//go:build linux

package leaktest

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// OpenFDs lists the process's open fds as "fd->target", in fd order. The
// fd that reading the list opens is left out; so is any closed while the
// list is read.
func OpenFDs(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("listing open fds: %v", err)
	}
	type fd struct {
		n    int
		desc string
	}
	var fds []fd
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // closed since: ReadDir's own, or another goroutine's
		}
		fds = append(fds, fd{n, e.Name() + "->" + target})
	}
	slices.SortFunc(fds, func(a, b fd) int { return a.n - b.n })
	out := make([]string, len(fds))
	for i, f := range fds {
		out[i] = f.desc
	}
	return out
}

// CountFDs returns how many fds the process has open.
func CountFDs(t testing.TB) int {
	t.Helper()
	return len(OpenFDs(t))
}

// settleTime is how long CheckFDs waits for fds still being closed, by
// cleanups or by goroutines on their way out.
const settleTime = 2 * time.Second

// runtimeFDs makes the runtime open the fds it opens once, lazily (its
// netpoller's epoll and wake-up fds, on the first timer), so that they do
// not count as the first checked test's leak.
var runtimeFDs = sync.OnceFunc(func() { time.Sleep(time.Millisecond) })

// CheckFDs records the fds open now and, when the test ends, fails t if
// more are open, listing them.
func CheckFDs(t testing.TB) {
	t.Helper()
	runtimeFDs()
	before := OpenFDs(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(settleTime)
		for {
			after := OpenFDs(t)
			if len(after) <= len(before) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("fd leak: %d open before the test, %d after\nbefore: %v\nafter:  %v",
					len(before), len(after), before, after)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}
