//go:build linux

package async_test

// Examples that use Linux system calls (eventfd, poll); the rest of the
// package's examples run anywhere.

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/offload"
)

// The loop of the README: a job signs a message through an async-aware
// engine (package offload), which pauses it while a worker signs; the
// application waits for the engine's wait fd with poll(2) and resumes the
// job until it finishes. The README shows the part between the marks, and
// TestREADMECode checks that it does.
func Example() {
	eng, err := offload.New(offload.Config{Notify: offload.NotifyFD})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	sign := func(ctx context.Context, msg []byte) int {
		sig, err := eng.SignEd25519(ctx, key, msg)
		if err != nil {
			return 0
		}
		return len(sig)
	}
	ctx, msg := context.Background(), []byte("hello")

	// README begin
	var pool async.Pool // the implicit pool: no maximum, nothing made up front
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()

	var job *async.Job
	for {
		st, ret, err := pool.StartJob(ctx, &job, w, sign, msg)
		switch st {
		case async.Pause: // an engine paused the job: wait for its fd
			unix.Poll(pollFDs(w.AllFDs()), -1)
			continue
		case async.Finish:
			fmt.Println("result", ret)
		case async.NoJobs: // pool at its maximum: retry later
		case async.Err:
			log.Print(err)
		}
		break
	}
	// README end

	// Output: result 64
}

// pollFDs asks poll(2) to wait for any of fds to become readable.
func pollFDs(fds []int) []unix.PollFd {
	p := make([]unix.PollFd, len(fds))
	for i, fd := range fds {
		p[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	return p
}

// An engine registers a wait fd before pausing and makes it readable when
// the job can go on; the application waits for it with poll(2).
func ExampleWaitCtx_SetWaitFD() {
	type engine struct{} // its pointer is the engine's key
	eng := new(engine)
	var work sync.WaitGroup
	defer work.Wait()

	// The engine's side, called inside a job.
	offload := func(ctx context.Context, op func() int) int {
		job := async.CurrentJob(ctx)
		if job == nil {
			return op() // not in a job: do the work here
		}
		w := job.WaitCtx()
		fd, _, ok := w.FD(eng)
		if !ok { // first use on this WaitCtx: one fd for its whole life
			var err error
			if fd, err = unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
				panic(err)
			}
			w.SetWaitFD(eng, fd, nil, func(_ *async.WaitCtx, _ any, fd int, _ any) { unix.Close(fd) })
		}
		var result int
		work.Add(1)
		go func() { // the "hardware"
			defer work.Done()
			result = op()
			unix.Write(fd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		}()
		async.PauseJob(ctx)
		var buf [8]byte
		unix.Read(fd, buf[:]) // clear the wake signal
		return result
	}

	// The application's side.
	var pool async.Pool
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free() // runs the cleanup: closes the eventfd
	square := func(ctx context.Context, args []byte) int {
		n := int(args[0])
		return offload(ctx, func() int { return n * n })
	}
	var job *async.Job
	for {
		st, ret, _ := pool.StartJob(context.Background(), &job, w, square, []byte{12})
		if st == async.Pause {
			fds := w.AllFDs()
			fmt.Println("paused; waiting on", len(fds), "fd")
			unix.Poll([]unix.PollFd{{Fd: int32(fds[0]), Events: unix.POLLIN}}, -1)
			continue
		}
		fmt.Println(st, ret)
		break
	}
	// Output:
	// paused; waiting on 1 fd
	// ASYNC_FINISH 144
}
