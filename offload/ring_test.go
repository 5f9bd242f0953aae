//go:build linux

package offload

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
)

// The ring keeps FIFO order, holds exactly depth requests (not the power
// of two it allocates), and is reusable after it wraps.
func TestRingOrderAndDepth(t *testing.T) {
	for _, depth := range []int{1, 3, 4, 5, 64} {
		q := newRing(depth)
		reqs := make([]request, depth+1)
		for round := range 3 { // wrap around a few times
			if !q.empty() || q.take() != nil {
				t.Fatalf("depth %d round %d: not empty at the start", depth, round)
			}
			for i := range depth {
				if !q.put(&reqs[i]) {
					t.Fatalf("depth %d round %d: put %d refused", depth, round, i)
				}
			}
			if q.put(&reqs[depth]) {
				t.Fatalf("depth %d round %d: put past the depth accepted", depth, round)
			}
			for i := range depth {
				if r := q.take(); r != &reqs[i] {
					t.Fatalf("depth %d round %d: take %d = %p, want %p", depth, round, i, r, &reqs[i])
				}
			}
			if q.take() != nil {
				t.Fatalf("depth %d round %d: take from an empty ring", depth, round)
			}
		}
	}
}

// Many goroutines put and take at once: every request comes out exactly
// once, and the ring never holds more than its depth.
func TestRingConcurrent(t *testing.T) {
	const depth, putters, takers, perPutter = 5, 4, 3, 2000
	q := newRing(depth)
	reqs := make([]request, putters*perPutter)
	seen := make([]int32, len(reqs))
	index := make(map[*request]int, len(reqs))
	for i := range reqs {
		index[&reqs[i]] = i
	}
	var wg sync.WaitGroup
	for p := range putters {
		wg.Go(func() {
			for i := p * perPutter; i < (p+1)*perPutter; {
				if q.put(&reqs[i]) {
					i++
				} else {
					runtime.Gosched() // full: let a taker run, even on one P
				}
				if n := int64(q.tail.Load() - q.head.Load()); n > depth {
					t.Errorf("ring holds %d > %d", n, depth)
					return
				}
			}
		})
	}
	var mu sync.Mutex
	taken := 0
	for range takers {
		wg.Go(func() {
			for {
				mu.Lock()
				done := taken == len(reqs)
				mu.Unlock()
				if done {
					return
				}
				if r := q.take(); r != nil {
					mu.Lock()
					seen[index[r]]++
					taken++
					mu.Unlock()
				} else {
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("request %d taken %d times", i, n)
		}
	}
}

// Workers that found the ring empty for a while park; a request submitted
// then wakes one, and Close wakes them all to exit.
func TestParkedWorkersWake(t *testing.T) {
	e, err := New(Config{Workers: 2, Notify: NotifyPoll})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var pool async.Pool
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()
	for round := range 3 {
		waitParked(t, e, 2)
		ran := false
		fn := func(ctx context.Context, _ []byte) int {
			if err := e.Do(ctx, func() { ran = true }); err != nil {
				return 0
			}
			return 1
		}
		st, ret, err := pollJob(&pool, w, fn)
		if errors.Is(err, errNeverServed) {
			t.Fatalf("round %d: no parked worker woke for the request", round)
		}
		if st != async.Finish || ret != 1 || !ran {
			t.Fatalf("round %d: %v, %d, %v, ran %v", round, st, ret, err, ran)
		}
	}
	waitParked(t, e, 2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Close()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the parked workers")
	}
}

// errNeverServed: pollJob gave up on a job whose request was not served.
var errNeverServed = errors.New("request never served")

// pollJob runs fn as a job, resuming it until it finishes (NotifyPoll: no
// fd or callback to wait for); after 10s it cancels the job and returns
// errNeverServed.
func pollJob(pool *async.Pool, w *async.WaitCtx, fn async.Func) (async.Status, int, error) {
	var job *async.Job
	st, ret, err := pool.StartJob(context.Background(), &job, w, fn, nil)
	deadline := time.Now().Add(10 * time.Second)
	for st == async.Pause {
		if time.Now().After(deadline) {
			pool.CancelJob(&job)
			return st, ret, errNeverServed
		}
		runtime.Gosched()
		st, ret, err = pool.StartJob(context.Background(), &job, w, nil, nil)
	}
	return st, ret, err
}

func waitParked(t *testing.T, e *Engine, n int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.parked.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers parked, want %d", e.parked.Load(), n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// Submitters that arrive as workers go to park: every request is still
// served. A lost wake-up leaves a request in the ring with every worker
// parked until some later submit; with four submitters pausing at
// staggered gaps, one that is lost for good shows as a job polling until
// the deadline. (The narrowest race, between a worker's last look and its
// count in parked, is argued in next rather than hit here.)
func TestNoLostWakeups(t *testing.T) {
	e, err := New(Config{Workers: 2, Depth: 4, Notify: NotifyPoll})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var pool async.Pool
	defer pool.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			w := async.NewWaitCtx()
			defer w.Free()
			fn := func(ctx context.Context, _ []byte) int {
				if e.Do(ctx, func() {}) != nil {
					return 0
				}
				return 1
			}
			for i := range 150 {
				// Gaps around the workers' spin before parking (some 10µs).
				time.Sleep(time.Duration((g*7+i*13)%40) * time.Microsecond)
				st, ret, err := pollJob(&pool, w, fn)
				if errors.Is(err, errNeverServed) {
					t.Errorf("goroutine %d, op %d: never served (parked %d)", g, i, e.parked.Load())
					return
				}
				if st != async.Finish || ret != 1 {
					t.Errorf("goroutine %d, op %d: %v, %d, %v", g, i, st, ret, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
