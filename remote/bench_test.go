package remote

import (
	"context"
	"testing"

	"github.com/seed-e1024768/async/loop"
)

// The benchmarks sign Ed25519 through a real signer process on loopback
// (no delay), so they measure the client and the wire: ns/op is the
// signer's throughput as this client drives it, allocs/op the client's
// (protobuf's own included).

// BenchmarkSignJobs: 256 jobs in flight through loop.Run, in each mode.
func BenchmarkSignJobs(b *testing.B) {
	_, dir, _ := testSignd(b)
	s := startSigner(b, dir)
	kid := keyID(b, dir, "ed25519")
	for _, m := range modes {
		b.Run(m.mode.String(), func(b *testing.B) {
			e := dial(b, Config{Notify: m.notify, AppParks: true}, s)
			msg := []byte("benchmark")
			fn := func(ctx context.Context, _ []byte) int {
				if _, err := e.Sign(ctx, kid, Ed25519, msg); err != nil {
					b.Error(err)
				}
				return 0
			}
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			err := loop.Run(context.Background(), loop.Config{Mode: m.mode, InFlight: 256}, func() (loop.Task, bool) {
				n++
				return loop.Task{Fn: fn}, n <= b.N
			}, func(loop.Result) {})
			if err != nil {
				b.Fatal(err)
			}
			st := e.Stats()
			b.ReportMetric(float64(st.Sent)/float64(max(st.Batches, 1)), "reqs/batch")
		})
	}
}

// BenchmarkSignGoroutines: blocking Sign from many goroutines, multiplexed
// over the engine's streams.
func BenchmarkSignGoroutines(b *testing.B) {
	_, dir, _ := testSignd(b)
	e := dial(b, Config{}, startSigner(b, dir))
	kid := keyID(b, dir, "ed25519")
	msg := []byte("benchmark")
	b.SetParallelism(128)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.Sign(context.Background(), kid, Ed25519, msg); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkSignOne: the same from many goroutines, each operation a plain
// unary SignOne call: the baseline.
func BenchmarkSignOne(b *testing.B) {
	_, dir, _ := testSignd(b)
	e := dial(b, Config{}, startSigner(b, dir))
	kid := keyID(b, dir, "ed25519")
	msg := []byte("benchmark")
	b.SetParallelism(128)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.SignOne(context.Background(), kid, Ed25519, msg); err != nil {
				b.Error(err)
			}
		}
	})
}
