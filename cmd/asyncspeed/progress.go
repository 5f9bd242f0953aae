//go:build linux

package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress shows the row being measured and its count so far, redrawn in
// place, on a terminal; elsewhere it shows nothing.
type progress struct {
	w    io.Writer // nil: no progress display
	stop func()
}

func newProgress(w io.Writer, enabled bool) *progress {
	if !enabled {
		return &progress{stop: func() {}}
	}
	return &progress{w: w, stop: func() {}}
}

func (p *progress) start(algorithm, mode string, c *counter) {
	if p.w == nil {
		return
	}
	t0 := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	draw := func() {
		fmt.Fprintf(p.w, "\r\033[K%-12s %-10s %10d ops  %5.1fs", algorithm, mode, c.count(), time.Since(t0).Seconds())
	}
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				draw()
			case <-done:
				fmt.Fprint(p.w, "\r\033[K")
				return
			}
		}
	}()
	p.stop = func() {
		close(done)
		wg.Wait()
		p.stop = func() {}
	}
}
