//go:build linux

package loop_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
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

// A loop's operations do not make the engine's wait fd readable (the loop
// is told directly), but another application that shares the engine, and
// so the fd, and waits for it with poll(2) as the man page describes, is
// still woken by it: each of its operations makes the fd readable while the
// loop runs its own.
func TestWatchedFDStillWakesOthers(t *testing.T) {
	leaktest.Check(t)
	e, err := offload.New(offload.Config{Workers: 2, Notify: offload.NotifyFD})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	op := func(ctx context.Context, _ []byte) int {
		if e.Do(ctx, func() {}) != nil {
			return 0
		}
		return 1
	}

	looped := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		next := func() (loop.Task, bool) {
			select {
			case <-stop:
				return loop.Task{}, false
			default:
				return loop.Task{Fn: op}, true
			}
		}
		looped <- loop.Run(ctx, loop.Config{InFlight: 4, Mode: loop.ModeFD}, next, func(loop.Result) {})
	}()

	pool, err := async.NewPool(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()
	for i := range 300 {
		var job *async.Job
		for {
			st, ret, err := pool.StartJob(ctx, &job, w, op, nil)
			if err != nil {
				t.Fatalf("operation %d: StartJob: %v", i, err)
			}
			if st == async.Finish {
				if ret != 1 {
					t.Fatalf("operation %d failed", i)
				}
				break
			}
			if st != async.Pause {
				t.Fatalf("operation %d: StartJob = %v", i, st)
			}
			fds := w.AllFDs()
			if len(fds) != 1 {
				t.Fatalf("operation %d paused with wait fds %v; want the engine's one", i, fds)
			}
			pfd := []unix.PollFd{{Fd: int32(fds[0]), Events: unix.POLLIN}}
			for {
				n, err := unix.Poll(pfd, 10_000)
				if err == unix.EINTR {
					continue
				}
				if err != nil || n != 1 {
					t.Fatalf("operation %d: its wait fd did not become readable in 10s (poll: %d, %v)", i, n, err)
				}
				break
			}
		}
	}
	close(stop)
	if err := <-looped; err != nil {
		t.Errorf("the loop: %v", err)
	}
}
