//go:build linux

package remote

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/loop"
	"github.com/seed-e1024768/async/signer"
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
			benchJobs(b, m.mode, 256, fn)
			st := e.Stats()
			b.ReportMetric(float64(st.Sent)/float64(max(st.Batches, 1)), "reqs/batch")
		})
	}
}

// BenchmarkOneInFlight: one operation at a time, ECDSA P-256 through a
// signer process on loopback: a blocking Sign, then one job through
// loop.Run in each mode. What the async path costs where it cannot
// overlap anything: ns/op and the client's cpu-ns/op against sync's.
func BenchmarkOneInFlight(b *testing.B) {
	_, dir, _ := testSignd(b)
	s := startSigner(b, dir)
	kid := keyID(b, dir, "ecdsap256")
	digest := make([]byte, 32)
	b.Run("sync", func(b *testing.B) {
		e := dial(b, Config{}, s)
		b.ReportAllocs()
		b.ResetTimer()
		defer cpuPerOp(b)()
		for range b.N {
			if _, err := e.Sign(context.Background(), kid, ECDSAP256SHA256, digest); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, m := range modes {
		b.Run(m.mode.String(), func(b *testing.B) {
			e := dial(b, Config{Notify: m.notify, AppParks: true}, s)
			fn := func(ctx context.Context, _ []byte) int {
				if _, err := e.Sign(ctx, kid, ECDSAP256SHA256, digest); err != nil {
					b.Error(err)
				}
				return 0
			}
			benchJobs(b, m.mode, 1, fn)
		})
	}
}

// benchJobs runs b.N tasks of fn through loop.Run in mode, inFlight at a
// time, reporting allocations and the process's CPU per operation.
func benchJobs(b *testing.B, mode loop.Mode, inFlight int, fn func(context.Context, []byte) int) {
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuPerOp(b)()
	err := loop.Run(context.Background(), loop.Config{Mode: mode, InFlight: inFlight}, func() (loop.Task, bool) {
		n++
		return loop.Task{Fn: fn}, n <= b.N
	}, func(loop.Result) {})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSignGoroutines: blocking Sign from many goroutines, multiplexed
// over the engine's streams.
func BenchmarkSignGoroutines(b *testing.B) { benchGoroutines(b, (*Engine).Sign) }

// BenchmarkSignOne: the same from many goroutines, each operation a plain
// unary SignOne call: the baseline.
func BenchmarkSignOne(b *testing.B) { benchGoroutines(b, (*Engine).SignOne) }

func benchGoroutines(b *testing.B, sign func(*Engine, context.Context, string, Algorithm, []byte) ([]byte, error)) {
	_, dir, _ := testSignd(b)
	e := dial(b, Config{}, startSigner(b, dir))
	kid := keyID(b, dir, "ed25519")
	msg := []byte("benchmark")
	b.SetParallelism(128)
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuPerOp(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := sign(e, context.Background(), kid, Ed25519, msg); err != nil {
				b.Error(err)
			}
		}
	})
}

// BenchmarkCancelReachesSigner measures how long a job's cancellation
// takes to reach a signer (in this process, holding requests for 10s):
// from CancelJob to the signer counting the request canceled.
func BenchmarkCancelReachesSigner(b *testing.B) {
	dir := b.TempDir()
	if err := signer.Init(dir); err != nil {
		b.Fatal(err)
	}
	srv, err := signer.New(signer.Config{Dir: dir, Delay: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop(time.Second)
	tlsCfg, err := signer.ClientTLS(dir)
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(Config{Addrs: []string{lis.Addr().String()}, TLS: tlsCfg, Notify: NotifyPoll})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	kid := keyID(b, dir, "ed25519")
	var pool async.Pool
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()
	fn := func(ctx context.Context, _ []byte) int {
		e.Sign(ctx, kid, Ed25519, []byte("x"))
		return 0
	}
	var total, sent, recv time.Duration
	for i := 0; b.Loop(); i++ {
		var job *async.Job
		start := time.Now()
		if st, _, err := pool.StartJob(context.Background(), &job, w, fn, nil); st != async.Pause {
			b.Fatal(st, err)
		}
		for srv.Stats().Received != uint64(i+1) {
			time.Sleep(10 * time.Microsecond) // idle, so the netpoller runs
		}
		recv += time.Since(start)
		start = time.Now()
		if _, err := pool.CancelJob(&job); err != nil {
			b.Fatal(err)
		}
		for e.Stats().CancelsSent != uint64(i+1) {
			time.Sleep(10 * time.Microsecond) // idle, so the netpoller runs
		}
		sent += time.Since(start)
		for srv.Stats().Canceled != uint64(i+1) {
			time.Sleep(10 * time.Microsecond) // idle, so the netpoller runs
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs/cancel")
	b.ReportMetric(float64(sent.Microseconds())/float64(b.N), "µs/sent")
	b.ReportMetric(float64(recv.Microseconds())/float64(b.N), "µs/request")
}

// BenchmarkVerify measures Config.VerifySignatures (item 10 of the signer
// audit): "check" is the verification alone, per operation, on this
// goroutine; "off" and "on" sign through a real signer from 128
// goroutines without and with it, so that their difference is what it
// costs the client's CPU, which it shares with the signer here.
func BenchmarkVerify(b *testing.B) {
	_, dir, _ := testSignd(b)
	s := startSigner(b, dir)
	for _, k := range []keyCase{{"ecdsap256", ECDSAP256SHA256}, {"ed25519", Ed25519}} {
		kid := keyID(b, dir, k.name)
		msg := payload(k.alg, []byte("benchmark"))
		b.Run(k.name+"/check", func(b *testing.B) {
			e := dial(b, Config{}, s)
			sig, err := e.Sign(context.Background(), kid, k.alg, msg)
			if err != nil {
				b.Fatal(err)
			}
			pub := certOf(b, dir, k.name).PublicKey
			r := e.getRequest(context.Background(), kid, k.alg, msg)
			defer r.Release()
			b.ReportAllocs()
			for b.Loop() {
				if err := checkSignature(r, pub, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, on := range []bool{false, true} {
			name := map[bool]string{false: "/off", true: "/on"}[on]
			b.Run(k.name+name, func(b *testing.B) {
				e := dial(b, Config{VerifySignatures: on}, s)
				b.SetParallelism(128)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := e.Sign(context.Background(), kid, k.alg, msg); err != nil {
							b.Error(err)
						}
					}
				})
			})
		}
	}
}

// cpuPerOp, deferred at the start of a benchmark's loop, reports the CPU
// time (user and system) this process, the client, spent per operation:
// on a shared machine it varies much less than ns/op, which is the
// signer's throughput as the client drives it.
func cpuPerOp(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64((cpu()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
