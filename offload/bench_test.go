//go:build linux

package offload_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/offload"
)

func nothing() {}

// benchDriver runs one job per iteration on one WaitCtx: start it, wait
// for its wake-up, resume it, until it finishes.
type benchDriver struct {
	b     *testing.B
	pool  *async.Pool
	w     *async.WaitCtx
	ready chan struct{} // callback mode
	pfd   []unix.PollFd // fd mode
}

func newBenchDriver(b *testing.B, callback bool) *benchDriver {
	d := &benchDriver{b: b, w: async.NewWaitCtx()}
	pool, err := async.NewPool(1, 1)
	if err != nil {
		b.Fatal(err)
	}
	d.pool = pool
	if callback {
		d.ready = make(chan struct{}, 1)
		d.w.SetCallback(func(arg any) int {
			select {
			case arg.(chan struct{}) <- struct{}{}:
			default:
			}
			return 1
		}, d.ready)
	}
	b.Cleanup(func() {
		d.w.Free()
		d.pool.Close()
	})
	return d
}

func (d *benchDriver) run(fn async.Func) {
	var job *async.Job
	st, _, err := d.pool.StartJob(context.Background(), &job, d.w, fn, nil)
	for st == async.Pause {
		switch {
		case d.w.Status() == async.StatusEAGAIN:
		case d.ready != nil:
			<-d.ready
		default:
			if d.pfd == nil {
				d.pfd = []unix.PollFd{{Fd: int32(d.w.AllFDs()[0]), Events: unix.POLLIN}}
			}
			for {
				if _, err := unix.Poll(d.pfd, -1); err != unix.EINTR {
					break
				}
			}
		}
		st, _, err = d.pool.StartJob(context.Background(), &job, d.w, nil, nil)
	}
	if st != async.Finish {
		d.b.Fatal(st, err)
	}
}

func benchOverhead(b *testing.B, notify offload.Notify, callback bool) {
	e, err := offload.New(offload.Config{Workers: 1, Notify: notify})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	d := newBenchDriver(b, callback)
	fn := func(ctx context.Context, _ []byte) int {
		if err := e.Do(ctx, nothing); err != nil {
			b.Error(err)
		}
		return 0
	}
	d.run(fn) // creates the wait fd
	b.ReportAllocs()
	for b.Loop() {
		d.run(fn)
	}
}

// BenchmarkOverheadFD is the framework's cost of one offloaded empty Do in
// fd mode: start a job, submit, pause, worker wakes the eventfd, poll(2)
// returns, resume, read the eventfd, finish. Target: 2 µs.
func BenchmarkOverheadFD(b *testing.B) { benchOverhead(b, offload.NotifyFD, false) }

// BenchmarkOverheadCallback is the same with the WaitCtx's callback as the
// wake-up (the callback signals a channel the driver waits on). Target:
// 0.5 µs.
func BenchmarkOverheadCallback(b *testing.B) { benchOverhead(b, offload.NotifyAuto, true) }

// BenchmarkSyncECDSAP256 signs on the caller (outside a job).
func BenchmarkSyncECDSAP256(b *testing.B) {
	e, err := offload.New(offload.Config{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	key, digest := ecKey(), sha256.Sum256([]byte("bench"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.SignECDSAP256(context.Background(), key, digest[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOffloadECDSAP256 signs inside a job, one at a time, offloaded
// to a worker and woken through the wait fd: the sign plus the overhead.
func BenchmarkOffloadECDSAP256(b *testing.B) {
	e, err := offload.New(offload.Config{Workers: 1, Notify: offload.NotifyFD})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	key, digest := ecKey(), sha256.Sum256([]byte("bench"))
	d := newBenchDriver(b, false)
	fn := func(ctx context.Context, _ []byte) int {
		if _, err := e.SignECDSAP256(ctx, key, digest[:]); err != nil {
			b.Error(err)
		}
		return 0
	}
	b.ReportAllocs()
	for b.Loop() {
		d.run(fn)
	}
}

// BenchmarkOffloadECDSAP256InFlight keeps 8 signing jobs in flight from
// one goroutine, waiting on all their wait fds with one poll(2): the
// throughput the workers (GOMAXPROCS of them) give to a single-goroutine
// application. ns/op is per signature.
func BenchmarkOffloadECDSAP256InFlight(b *testing.B) {
	const inFlight = 8
	e, err := offload.New(offload.Config{Notify: offload.NotifyFD})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	pool, err := async.NewPool(inFlight, inFlight)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	key, digest := ecKey(), sha256.Sum256([]byte("bench"))
	fn := func(ctx context.Context, _ []byte) int {
		if _, err := e.SignECDSAP256(ctx, key, digest[:]); err != nil {
			b.Error(err)
		}
		return 0
	}
	var (
		jobs  [inFlight]*async.Job
		ws    [inFlight]*async.WaitCtx
		pfds  [inFlight]unix.PollFd
		slots [inFlight]int // pfds index -> slot
	)
	for i := range ws {
		ws[i] = async.NewWaitCtx()
		defer ws[i].Free()
	}
	started, done := 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	deadline := time.Now().Add(time.Minute)
	for done < b.N {
		n := 0
		for i := range jobs {
			if jobs[i] == nil {
				if started == b.N {
					continue
				}
				started++
				if st, _, err := pool.StartJob(context.Background(), &jobs[i], ws[i], fn, nil); st == async.Finish {
					done++
					continue
				} else if st != async.Pause {
					b.Fatal(st, err)
				}
			}
			if ws[i].Status() == async.StatusEAGAIN {
				pfds[n] = unix.PollFd{Fd: -1}
			} else {
				fd, _, _ := ws[i].FD(e)
				pfds[n] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
			}
			slots[n] = i
			n++
		}
		if n == 0 {
			continue
		}
		if _, err := unix.Poll(pfds[:n], 1000); err != nil && err != unix.EINTR {
			b.Fatal(err)
		}
		for k := range n {
			i := slots[k]
			if pfds[k].Revents == 0 && ws[i].Status() != async.StatusEAGAIN {
				continue
			}
			st, _, err := pool.StartJob(context.Background(), &jobs[i], ws[i], nil, nil)
			switch st {
			case async.Finish:
				done++
			case async.Pause:
			default:
				b.Fatal(st, err)
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("stuck")
		}
	}
}
