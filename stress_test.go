package async_test

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/seed-e1024768/async"
)

// Thousands of paused jobs, resumed from several goroutines at once through
// one shared pool, each job exactly to its end; then nothing is left.
func TestStressManyPausedJobs(t *testing.T) {
	checkNoLeaks(t)
	const jobs, pauses, workers = 3000, 3, 4 // the race detector allows 8128 goroutines
	pool, err := async.NewPool(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	fn := func(ctx context.Context, args []byte) int {
		id := int(binary.LittleEndian.Uint32(args))
		for range pauses {
			if async.CurrentJob(ctx) == nil || async.PauseJob(ctx) != nil {
				return -1
			}
		}
		return id
	}
	type slot struct {
		job *async.Job
		w   *async.WaitCtx
	}
	queue := make(chan *slot, jobs)
	for i := range jobs {
		s := &slot{w: async.NewWaitCtx()}
		defer s.w.Free()
		var args [4]byte
		binary.LittleEndian.PutUint32(args[:], uint32(i))
		if st, _, err := pool.StartJob(bg, &s.job, s.w, fn, args[:]); st != async.Pause {
			t.Fatalf("start %d: %v, %v", i, st, err)
		}
		queue <- s
	}
	if s := pool.Stats(); s.Paused != jobs {
		t.Fatalf("Stats = %+v", s)
	}
	var mu sync.Mutex
	seen := make(map[int]bool, jobs)
	var wg sync.WaitGroup
	var remaining sync.WaitGroup
	remaining.Add(jobs)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range queue {
				st, ret, err := pool.StartJob(bg, &s.job, nil, nil, nil)
				switch st {
				case async.Pause:
					queue <- s
					continue
				case async.Finish:
					mu.Lock()
					if seen[ret] || ret < 0 {
						t.Errorf("job %d finished twice or failed", ret)
					}
					seen[ret] = true
					mu.Unlock()
				default:
					t.Errorf("resume: %v, %v", st, err)
				}
				remaining.Done()
			}
		}()
	}
	remaining.Wait()
	close(queue)
	wg.Wait()
	if len(seen) != jobs {
		t.Fatalf("%d jobs finished, want %d", len(seen), jobs)
	}
	s := pool.Stats()
	if s.Paused != 0 || s.Idle != s.Size || s.Started != jobs {
		t.Fatalf("Stats = %+v", s)
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
}

// Many goroutines start and finish jobs on one pool with a maximum, some
// getting NoJobs: the pool never exceeds its maximum and loses no job (all
// max jobs can be paused at once afterwards, so every idle job is found).
func TestStressSharedPool(t *testing.T) {
	checkNoLeaks(t)
	const max, goroutines, perG = 8, 8, 300
	pool, err := async.NewPool(max, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := async.NewWaitCtx()
			defer w.Free()
			for i := 0; i < perG; {
				var job *async.Job
				st, ret, err := pool.StartJob(bg, &job, w, pauser(i%3, g), nil)
				if st == async.NoJobs {
					continue
				}
				for st == async.Pause {
					if s := pool.Stats(); s.Size > max {
						t.Errorf("pool grew past its maximum: %+v", s)
					}
					st, ret, err = pool.StartJob(bg, &job, nil, nil, nil)
				}
				if st != async.Finish || ret != g {
					t.Errorf("job: %v, %d, %v", st, ret, err)
					return
				}
				i++
			}
		}()
	}
	wg.Wait()
	if s := pool.Stats(); s.Size > max || s.Paused != 0 || s.Idle != s.Size || s.Started != goroutines*perG {
		t.Fatalf("Stats = %+v", s)
	}
	w := async.NewWaitCtx()
	defer w.Free()
	jobs := make([]*async.Job, max)
	for i := range jobs {
		if st, _, err := pool.StartJob(bg, &jobs[i], w, pauser(1, 0), nil); st != async.Pause {
			t.Fatalf("job %d of %d after the churn: %v, %v; %+v", i+1, max, st, err, pool.Stats())
		}
	}
	for i := range jobs {
		if _, err := pool.CancelJob(&jobs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := pool.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close while other goroutines start, pause and resume jobs: every job ends
// (finished, or unwound with ErrClosed) and no goroutine is left.
func TestCloseRacesWithUse(t *testing.T) {
	checkNoLeaks(t)
	for range 20 {
		pool, _ := async.NewPool(0, 0)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w := async.NewWaitCtx()
				defer w.Free()
				for range 50 {
					var job *async.Job
					st, _, _ := pool.StartJob(bg, &job, w, pauser(2, 1), nil)
					for st == async.Pause {
						st, _, _ = pool.StartJob(bg, &job, nil, nil, nil)
					}
					if st == async.Err {
						return // closed
					}
				}
			}()
		}
		pool.Close()
		wg.Wait()
		if s := pool.Stats(); s.Size != 0 {
			t.Fatalf("after Close and all users done: %+v", s)
		}
	}
}
