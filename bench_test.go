package async_test

import (
	"context"
	"iter"
	"testing"

	"github.com/seed-e1024768/async"
)

// BenchmarkPauseResume measures one PauseJob and the StartJob that resumes
// the job: the cost OpenSSL's async_fibre_swapcontext pair is compared with.
func BenchmarkPauseResume(b *testing.B) {
	var pool async.Pool
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()
	var job *async.Job
	loop := func(ctx context.Context, _ []byte) int {
		for async.PauseJob(ctx) == nil {
		}
		return 0
	}
	if st, _, err := pool.StartJob(context.Background(), &job, w, loop, nil); st != async.Pause {
		b.Fatal(st, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if st, _, err := pool.StartJob(context.Background(), &job, w, nil, nil); st != async.Pause {
			b.Fatal(st, err)
		}
	}
	b.StopTimer()
	if _, err := pool.CancelJob(&job); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStartFinish measures starting a pooled job whose Func returns at
// once, with 8 bytes of args, up to its Finish.
func BenchmarkStartFinish(b *testing.B) {
	benchStartFinish(b, []context.Context{context.Background()}, func(context.Context, []byte) int { return 1 })
}

// benchStartFinish starts and finishes a job running fn, with 8 bytes of
// args, once per iteration, under each of parents in turn (one, or two).
func benchStartFinish(b *testing.B, parents []context.Context, fn async.Func) {
	pool, err := async.NewPool(1, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()
	args := []byte("8 bytes!")
	mask := len(parents) - 1
	var job *async.Job
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if st, _, err := pool.StartJob(parents[i&mask], &job, w, fn, args); st != async.Finish {
			b.Fatal(st, err)
		}
	}
}

// BenchmarkPullRoundTrip is the floor under BenchmarkPauseResume: one
// iter.Pull round trip, the runtime's coroutine switch there and back,
// with nothing else.
func BenchmarkPullRoundTrip(b *testing.B) {
	next, stop := iter.Pull(func(yield func(struct{}) bool) {
		for yield(struct{}{}) {
		}
	})
	defer stop()
	b.ReportAllocs()
	for b.Loop() {
		next()
	}
}

// BenchmarkStartFinishDerive is BenchmarkStartFinish with a Func that
// derives a context from its ctx and cancels it, under a cancelable
// parent: what the run's context adds to a Func that uses it as a context.
func BenchmarkStartFinishDerive(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchStartFinish(b, []context.Context{ctx}, func(ctx context.Context, _ []byte) int {
		c, cancel := context.WithCancel(ctx)
		cancel()
		return len(c.Done())
	})
}

// BenchmarkStartFinishNewParent is BenchmarkStartFinish with a parent
// context that changes at every start, as when each request brings its
// own: the run gets a context of its own each time.
func BenchmarkStartFinishNewParent(b *testing.B) {
	type key struct{}
	benchStartFinish(b, []context.Context{
		context.WithValue(context.Background(), key{}, 1),
		context.WithValue(context.Background(), key{}, 2),
	}, func(context.Context, []byte) int { return 1 })
}
