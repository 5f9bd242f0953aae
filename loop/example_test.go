//go:build linux

package loop_test

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/loop"
)

// squarer is a toy engine: it squares numbers on a goroutine of its own.
// Inside a job it hands the request over and pauses; it tells the loop it
// is done through the WaitCtx's callback, as ModeCallback expects.
type squarer struct{ requests chan *request }

type request struct {
	n, result int
	done      atomic.Bool
	callback  async.CallbackFunc
	arg       any
}

func newSquarer() *squarer {
	s := &squarer{requests: make(chan *request, 64)}
	go func() {
		for r := range s.requests {
			r.result = r.n * r.n
			r.done.Store(true)
			r.callback(r.arg) // "resume my job": small, non-blocking
		}
	}()
	return s
}

func (s *squarer) square(ctx context.Context, n int) (int, error) {
	job := async.CurrentJob(ctx)
	if job == nil {
		return n * n, nil // not in a job: do it here
	}
	w := job.WaitCtx()
	fn, arg, ok := w.Callback()
	if !ok {
		return n * n, nil // this toy knows no other way to be woken
	}
	r := &request{n: n, callback: fn, arg: arg}
	s.requests <- r
	for !r.done.Load() { // tolerate a spurious resume
		w.SetStatus(async.StatusOK) // the callback will come
		if err := async.PauseJob(ctx); err != nil {
			return 0, err // canceled
		}
	}
	return r.result, nil
}

// Example sums the squares of 1..100, eight at a time, on one goroutine.
func Example() {
	eng := newSquarer()
	defer close(eng.requests)

	next, sum := 0, 0
	err := loop.Run(context.Background(), loop.Config{InFlight: 8, Mode: loop.ModeCallback},
		func() (loop.Task, bool) { // the work: one task per number
			if next == 100 {
				return loop.Task{}, false
			}
			next++
			n := next
			return loop.Task{Fn: func(ctx context.Context, _ []byte) int {
				sq, err := eng.square(ctx, n)
				if err != nil {
					return -1
				}
				return sq
			}, Tag: n}, true
		},
		func(r loop.Result) { // each result, as its job finishes
			if r.Err != nil {
				fmt.Println(r.Tag, r.Err)
				return
			}
			sum += r.Ret
		})
	fmt.Println(sum, err)
	// Output: 338350 <nil>
}
