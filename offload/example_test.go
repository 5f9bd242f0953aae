//go:build linux

package offload_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/offload"
)

// A job signs a message through the engine. While a worker signs, the job
// is paused and StartJob returns ASYNC_PAUSE; the application waits for the
// engine's wait fd with poll(2) and resumes the job, which returns the
// signature.
func ExampleEngine_SignEd25519() {
	e, err := offload.New(offload.Config{Notify: offload.NotifyFD})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	var pool async.Pool
	defer pool.Close()
	wctx := async.NewWaitCtx()
	defer wctx.Free() // closes the engine's wait fd

	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	msg := []byte("hello")
	var sig []byte
	sign := func(ctx context.Context, args []byte) int {
		s, err := e.SignEd25519(ctx, key, args)
		if err != nil {
			return 0
		}
		sig = s
		return 1
	}

	var job *async.Job
	st, ret, err := pool.StartJob(context.Background(), &job, wctx, sign, msg)
	for st == async.Pause {
		fmt.Println("job paused; wait fds:", len(wctx.AllFDs()))
		if wctx.Status() != async.StatusEAGAIN { // EAGAIN: ring full, resume at once
			fds := []unix.PollFd{{Fd: int32(wctx.AllFDs()[0]), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					break
				}
			}
		}
		st, ret, err = pool.StartJob(context.Background(), &job, wctx, nil, nil)
	}
	if err != nil {
		panic(err)
	}
	fmt.Println(st, ret)
	fmt.Println("signature verifies:", ed25519.Verify(key.Public().(ed25519.PublicKey), msg, sig))
	fmt.Printf("signature: %x...\n", sig[:8])
	// Output:
	// job paused; wait fds: 1
	// ASYNC_FINISH 1
	// signature verifies: true
	// signature: e25c8723d039fe8f...
}

// With a callback set on the WaitCtx, a NotifyAuto engine sets the status to
// StatusOK before pausing and calls the callback, on a worker goroutine,
// when the operation completes. Here the callback only signals a channel.
func ExampleEngine_SHA256_callback() {
	e, err := offload.New(offload.Config{Notify: offload.NotifyAuto})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	var pool async.Pool
	defer pool.Close()
	wctx := async.NewWaitCtx()
	defer wctx.Free()
	ready := make(chan struct{}, 1)
	wctx.SetCallback(func(arg any) int {
		arg.(chan struct{}) <- struct{}{}
		return 1
	}, ready)

	var sum [32]byte
	var job *async.Job
	st, _, _ := pool.StartJob(context.Background(), &job, wctx, func(ctx context.Context, args []byte) int {
		sum, _ = e.SHA256(ctx, args)
		return 1
	}, []byte("abc"))
	for st == async.Pause {
		fmt.Println("paused with", wctx.Status())
		if wctx.Status() == async.StatusOK {
			<-ready
		}
		st, _, _ = pool.StartJob(context.Background(), &job, wctx, nil, nil)
	}
	fmt.Println(st, sum == sha256.Sum256([]byte("abc")))
	// Output:
	// paused with ASYNC_STATUS_OK
	// ASYNC_FINISH true
}

// Outside a job every operation runs synchronously on the caller.
func ExampleEngine_SHA256() {
	e, err := offload.New(offload.Config{})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	sum, err := e.SHA256(context.Background(), []byte("abc"))
	fmt.Printf("%x %v\n", sum[:4], err)
	// Output:
	// ba7816bf <nil>
}
