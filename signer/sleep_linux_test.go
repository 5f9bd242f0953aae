//go:build linux

package signer

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// A worker sleeping out the last stretch of a delay holds no P: it is
// parked in the netpoller ("IO wait"), not blocked in a system call,
// which kept the P until the runtime's monitor took it back and, on a
// 2-core machine with a client polling its jobs, halved an embedded
// signer's answers. Closing the queue ends the sleep.
func TestPreciseSleepHoldsNoP(t *testing.T) {
	var p preciseSleep
	p.prepare()
	if p.broken {
		t.Skip("no timerfd here: the sleep falls back to the runtime's timers")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.sleep(time.Hour)
	}()
	waitFor(t, func() bool { return sleeperState() == "IO wait" })
	p.close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a sleep did not end when its queue closed")
	}
}

// sleeperState is the state, as a goroutine dump says it, of the goroutine
// in preciseSleep.sleep, or "" if there is none.
func sleeperState() string {
	buf := make([]byte, 1<<20)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "(*preciseSleep).sleep") {
			continue
		}
		header, _, _ := strings.Cut(g, "\n")
		_, state, _ := strings.Cut(header, "[")
		state, _, _ = strings.Cut(state, "]")
		state, _, _ = strings.Cut(state, ",") // "IO wait, 2 minutes"
		return state
	}
	return ""
}
