//go:build linux

package loop_test

import (
	"context"
	"testing"

	"github.com/seed-e1024768/async/loop"
	"github.com/seed-e1024768/async/offload"
)

// benchEngine measures the whole framework's cost per offloaded operation:
// an operation that does no work (offload.Engine.Do of an empty func), 16
// in flight through one loop, 2 workers. ns/op is wall time per operation
// on the whole machine; allocs/op is the steady state's.
func benchEngine(b *testing.B, mode loop.Mode, notify offload.Notify) {
	e, err := offload.New(offload.Config{Workers: 2, Notify: notify, AppParks: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	empty := func() {}
	fn := func(ctx context.Context, _ []byte) int {
		if e.Do(ctx, empty) != nil {
			return 0
		}
		return 1
	}
	n, ok := 0, 0
	next := func() (loop.Task, bool) {
		n++
		return loop.Task{Fn: fn}, n <= b.N
	}
	done := func(r loop.Result) {
		if r.Err == nil && r.Ret == 1 {
			ok++
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := loop.Run(context.Background(), loop.Config{InFlight: 16, Mode: mode}, next, done); err != nil {
		b.Fatal(err)
	}
	if ok != b.N {
		b.Fatalf("%d of %d operations succeeded", ok, b.N)
	}
}

func BenchmarkEngineOverheadFD(b *testing.B) { benchEngine(b, loop.ModeFD, offload.NotifyFD) }
func BenchmarkEngineOverheadCallback(b *testing.B) {
	benchEngine(b, loop.ModeCallback, offload.NotifyAuto)
}
func BenchmarkEngineOverheadPoll(b *testing.B) { benchEngine(b, loop.ModePoll, offload.NotifyPoll) }
