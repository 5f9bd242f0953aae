//go:build linux

package offload

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
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

// Several putters and takers share a ring of every small depth, including
// 1, where one cell's sequence number cannot tell "full, for the take at
// pos" from "free, for the put at pos+1": each request must come out
// exactly once, the ring must never hold more than its depth, and it must
// not jam (report full forever) afterwards. Bounded by count and by a
// deadline, so a jammed ring fails rather than hangs.
func TestRingExactlyOnceEveryDepth(t *testing.T) {
	const putters, takers, perPutter = 3, 3, 3000
	for depth := 1; depth <= 8; depth++ {
		q := newRing(depth)
		reqs := make([]request, putters*perPutter)
		index := make(map[*request]int, len(reqs))
		for i := range reqs {
			index[&reqs[i]] = i
		}
		seen := make([]atomic.Int32, len(reqs))
		var taken atomic.Int64
		deadline := time.Now().Add(10 * time.Second)
		var jammed atomic.Bool
		var wg sync.WaitGroup
		for p := range putters {
			wg.Go(func() {
				for i := p * perPutter; i < (p+1)*perPutter; {
					if q.put(&reqs[i]) {
						i++
						continue
					}
					if time.Now().After(deadline) {
						jammed.Store(true)
						return
					}
					runtime.Gosched()
				}
			})
		}
		for range takers {
			wg.Go(func() {
				misses := 0
				for taken.Load() < int64(len(reqs)) && !jammed.Load() {
					if n := int64(q.tail.Load() - q.head.Load()); n > int64(depth) {
						t.Errorf("depth %d: ring holds %d", depth, n)
					}
					r := q.take()
					if r == nil {
						if misses++; misses%64 == 0 {
							if time.Now().After(deadline) {
								jammed.Store(true)
								return
							}
							runtime.Gosched()
						}
						continue
					}
					i, ok := index[r]
					if !ok {
						t.Errorf("depth %d: take returned %p, never put", depth, r)
						continue
					}
					seen[i].Add(1)
					taken.Add(1)
				}
			})
		}
		wg.Wait()
		for i := range seen {
			if n := seen[i].Load(); n != 1 {
				t.Errorf("depth %d: request %d taken %d times", depth, i, n)
				break
			}
		}
		if jammed.Load() {
			t.Fatalf("depth %d: no progress for 10s with %d of %d taken: the ring is jammed", depth, taken.Load(), len(reqs))
		}
		// Still usable: it takes depth requests and no more.
		for i := range depth {
			if !q.put(&reqs[i]) {
				t.Fatalf("depth %d: put %d refused on an empty ring", depth, i)
			}
		}
		if q.put(&reqs[depth]) {
			t.Fatalf("depth %d: put past the depth accepted", depth)
		}
	}
}

// A put that comes while a take has claimed its position but not yet read
// its cell must not write over that cell: with depth 1 the ring used to
// have one cell, whose "free for the next put" and "full for this take"
// looked the same. The take is done by hand in its two steps, so that the
// put lands in between every time.
func TestRingPutDuringTake(t *testing.T) {
	for _, depth := range []int{1, 2, 3} {
		q := newRing(depth)
		var a, b request
		if !q.put(&a) {
			t.Fatalf("depth %d: put refused on an empty ring", depth)
		}
		// The take's first step: claim position 0.
		pos := q.head.Load()
		c := &q.cells[pos&q.mask]
		if c.seq.Load() != pos+1 || !q.head.CompareAndSwap(pos, pos+1) {
			t.Fatalf("depth %d: cannot claim the head", depth)
		}
		q.put(&b) // may be refused; it must not touch the claimed cell
		if c.r != &a {
			t.Fatalf("depth %d: a put wrote over a cell being taken", depth)
		}
		// The take's second step, as take does it.
		c.r = nil
		c.seq.Store(pos + q.mask + 1)
		for q.take() != nil {
		}
		if !q.put(&a) || q.take() != &a {
			t.Fatalf("depth %d: the ring jammed after an overlapping put and take", depth)
		}
	}
}
