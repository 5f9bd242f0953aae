//go:build linux

package loop_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/leaktest"
	"github.com/seed-e1024768/async/loop"
	"github.com/seed-e1024768/async/offload"
)

// Two loops that share one engine share its wait fd, which each watches
// rather than polls: the fd is often readable for the other loop's
// operation, and each loop must neither miss a wake-up of its own nor
// stall while the other's is pending. Every operation of both completes,
// and nothing is left behind.
func TestLoopsShareWatchedFD(t *testing.T) {
	leaktest.Check(t)
	e, err := offload.New(offload.Config{Workers: 2, Notify: offload.NotifyFD, AppParks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const loops, ops = 2, 2000
	var wg sync.WaitGroup
	errs := make([]error, loops)
	good := make([]int, loops)
	for i := range loops {
		wg.Go(func() {
			n := 0
			next := func() (loop.Task, bool) {
				n++
				want := n
				return loop.Task{Fn: func(ctx context.Context, _ []byte) int {
					var got int
					if e.Do(ctx, func() { got = want }) != nil || got != want {
						return 0
					}
					return 1
				}}, n <= ops
			}
			done := func(r loop.Result) {
				if r.Err == nil && r.Ret == 1 {
					good[i]++
				}
			}
			errs[i] = loop.Run(ctx, loop.Config{InFlight: 8, Mode: loop.ModeFD}, next, done)
		})
	}
	wg.Wait()
	for i := range loops {
		if errs[i] != nil || good[i] != ops {
			t.Errorf("loop %d: %d of %d operations succeeded; Run: %v", i, good[i], ops, errs[i])
		}
	}
}
