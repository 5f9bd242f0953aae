package async_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/seed-e1024768/async"
)

// A job that pauses twice, driven to the end by the code that started it.
func ExamplePool_StartJob() {
	var pool async.Pool // the implicit pool: no limit, no jobs made up front
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()

	count := func(ctx context.Context, args []byte) int {
		for i := range 2 {
			fmt.Printf("job: step %d of %s, pausing\n", i, args)
			async.PauseJob(ctx)
		}
		return 42
	}
	var job *async.Job
	for {
		st, ret, err := pool.StartJob(context.Background(), &job, w, count, []byte("counting"))
		fmt.Println("StartJob:", st)
		if st == async.Finish {
			fmt.Println("result:", ret)
		}
		if st != async.Pause {
			if err != nil {
				fmt.Println(err)
			}
			break
		}
	}
	// Output:
	// job: step 0 of counting, pausing
	// StartJob: ASYNC_PAUSE
	// job: step 1 of counting, pausing
	// StartJob: ASYNC_PAUSE
	// StartJob: ASYNC_FINISH
	// result: 42
}

// An application that prefers callbacks to fds sets one; an engine that
// supports callbacks says so with StatusOK and calls it on completion.
func ExampleWaitCtx_SetCallback() {
	w := async.NewWaitCtx()
	defer w.Free()
	// The callback may run before StartJob has even returned Pause, on the
	// engine's goroutine: it only says which job is ready, and the
	// application resumes that job from its own goroutine.
	ready := make(chan string, 1)
	w.SetCallback(func(arg any) int {
		ready <- arg.(string) // small and non-blocking
		return 1
	}, "job 1")

	var pool async.Pool
	defer pool.Close()
	fn := func(ctx context.Context, _ []byte) int {
		w := async.CurrentJob(ctx).WaitCtx()
		if fn, arg, ok := w.Callback(); ok {
			w.SetStatus(async.StatusOK) // "the request has been submitted"
			go fn(arg)                  // the engine completes elsewhere
		}
		async.PauseJob(ctx)
		return 7
	}
	var job *async.Job
	st, _, _ := pool.StartJob(context.Background(), &job, w, fn, nil)
	fmt.Println(st, w.Status())
	fmt.Println(<-ready, "is ready")
	st, ret, _ := pool.StartJob(context.Background(), &job, w, nil, nil)
	fmt.Println(st, ret)
	// Output:
	// ASYNC_PAUSE ASYNC_STATUS_OK
	// job 1 is ready
	// ASYNC_FINISH 7
}

// A pool with a maximum reports NoJobs when all its jobs are in use.
func ExampleNewPool() {
	pool, err := async.NewPool(1, 1) // at most one job, made now
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	w1, w2 := async.NewWaitCtx(), async.NewWaitCtx()
	defer w1.Free()
	defer w2.Free()
	wait := func(ctx context.Context, _ []byte) int { async.PauseJob(ctx); return 1 }

	var a, b *async.Job
	st, _, _ := pool.StartJob(context.Background(), &a, w1, wait, nil)
	fmt.Println("first:", st)
	st, _, _ = pool.StartJob(context.Background(), &b, w2, wait, nil)
	fmt.Println("second:", st)
	pool.StartJob(context.Background(), &a, nil, nil, nil) // finish the first
	st, _, _ = pool.StartJob(context.Background(), &b, w2, wait, nil)
	fmt.Println("second, retried:", st)
	fmt.Printf("%+v\n", pool.Stats())
	pool.CancelJob(&b)
	// Output:
	// first: ASYNC_PAUSE
	// second: ASYNC_NO_JOBS
	// second, retried: ASYNC_PAUSE
	// {Max:1 Size:1 Idle:0 Paused:1 Started:2}
}

// A paused job that will never be woken can be canceled: PauseJob returns
// ErrCanceled so that it unwinds, and the job goes back to the pool.
func ExamplePool_CancelJob() {
	var pool async.Pool
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()
	fn := func(ctx context.Context, _ []byte) int {
		if err := async.PauseJob(ctx); errors.Is(err, async.ErrCanceled) {
			fmt.Println("job:", err)
			return -1
		}
		return 0
	}
	var job *async.Job
	pool.StartJob(context.Background(), &job, w, fn, nil)
	ret, err := pool.CancelJob(&job)
	fmt.Println(ret, err, job == nil, pool.Stats().Idle)
	// Output:
	// job: async: job canceled
	// -1 <nil> true 1
}

// BlockPause keeps a job from pausing while it holds a lock that the code
// resuming it may take too.
func ExampleBlockPause() {
	var mu sync.Mutex
	var pool async.Pool
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()
	fn := func(ctx context.Context, _ []byte) int {
		mu.Lock()
		async.BlockPause(ctx)
		async.PauseJob(ctx) // deep in some library: does not pause now
		async.UnblockPause(ctx)
		mu.Unlock()
		async.PauseJob(ctx) // pauses
		return 0
	}
	var job *async.Job
	st, _, _ := pool.StartJob(context.Background(), &job, w, fn, nil)
	mu.Lock() // would deadlock had the job paused holding mu
	//lint:ignore SA2001 taking the lock is the point: it shows the job released it
	mu.Unlock()
	fmt.Println(st)
	st, _, _ = pool.StartJob(context.Background(), &job, w, nil, nil)
	fmt.Println(st)
	// Output:
	// ASYNC_PAUSE
	// ASYNC_FINISH
}

// A panic in a job is reported, not propagated.
func ExamplePanicError() {
	var pool async.Pool
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()
	var job *async.Job
	_, _, err := pool.StartJob(context.Background(), &job, w, func(context.Context, []byte) int {
		panic("out of cheese")
	}, nil)
	var pe *async.PanicError
	fmt.Println(errors.As(err, &pe), pe.Value)
	// Output: true out of cheese
}
