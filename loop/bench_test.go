//go:build linux

package loop

import (
	"context"
	"testing"

	"github.com/seed-e1024768/async"
	"golang.org/x/sys/unix"
)

// Zero-work tasks for measuring the loop itself: each pauses once, with
// its "operation" complete at once, in the way each mode expects to hear
// about it.

var benchKey = new(int)

// pollOnce pauses once and finishes when resumed: a job with nothing to
// wait for, polled.
func pollOnce(ctx context.Context, _ []byte) int {
	async.PauseJob(ctx)
	return 0
}

// fdOnce makes its WaitCtx's eventfd (once per WaitCtx) readable, pauses,
// and drains it when resumed.
func fdOnce(ctx context.Context, _ []byte) int {
	w := async.CurrentJob(ctx).WaitCtx()
	fd, data, ok := w.FD(benchKey)
	if !ok {
		var err error
		if fd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
			panic(err)
		}
		data = new([8]byte)
		w.SetWaitFD(benchKey, fd, data, closeFDCleanup)
	}
	buf := data.(*[8]byte)
	unix.Write(fd, one[:])
	for {
		if async.PauseJob(ctx) != nil {
			return -1
		}
		if n, _ := unix.Read(fd, buf[:]); n == 8 {
			return 0
		}
	}
}

// callbackOnce sets StatusOK, calls its WaitCtx's callback (as an engine's
// completion would) and pauses.
func callbackOnce(ctx context.Context, _ []byte) int {
	w := async.CurrentJob(ctx).WaitCtx()
	fn, arg, ok := w.Callback()
	if !ok {
		panic("no callback")
	}
	w.SetStatus(async.StatusOK)
	fn(arg)
	async.PauseJob(ctx)
	return 0
}

var benchFuncs = map[Mode]async.Func{ModeFD: fdOnce, ModeCallback: callbackOnce, ModePoll: pollOnce}

// benchLoop runs b.N zero-work tasks through one Run of 64 jobs in flight.
func benchLoop(b *testing.B, m Mode) {
	fn := benchFuncs[m]
	pool, err := async.NewPool(0, 64)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	err = Run(context.Background(), Config{Pool: pool, InFlight: 64, Mode: m}, func() (Task, bool) {
		if i == b.N {
			return Task{}, false
		}
		i++
		return Task{Fn: fn}, true
	}, func(r Result) {
		if r.Err != nil {
			b.Fatal(r.Err)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
}

func BenchmarkLoopPoll(b *testing.B)     { benchLoop(b, ModePoll) }
func BenchmarkLoopFD(b *testing.B)       { benchLoop(b, ModeFD) }
func BenchmarkLoopCallback(b *testing.B) { benchLoop(b, ModeCallback) }
