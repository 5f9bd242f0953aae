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
// the job can go on; the application waits for it with poll(2). The fd is
// the read end of a pipe; the engine keeps the write end as the fd's data.
//
// The key must be unique to the engine. Its own pointer is a good key, as
// the man page suggests, provided the type it points to is not zero-sized:
// Go may give distinct zero-size variables the same address, so two
// engines declared as struct{} could share a key and each find the other's
// fd. A field (here the engine's name) makes every engine a distinct key;
// a value of an unexported type, such as engine{"pipe"}, works too,
// since no other package can make one equal to it.
func ExampleWaitCtx_SetWaitFD() {
	type engine struct{ name string }
	eng := &engine{name: "pipe"} // the key: this pointer
	var work sync.WaitGroup
	defer work.Wait()
	closePipe := func(_ *async.WaitCtx, _ any, fd int, data any) {
		unix.Close(fd)
		unix.Close(data.(int))
	}

	// The engine's side, called inside a job.
	offload := func(ctx context.Context, op func() int) int {
		job := async.CurrentJob(ctx)
		if job == nil {
			return op() // not in a job: do the work here
		}
		w := job.WaitCtx()
		fd, data, ok := w.FD(eng)
		if !ok { // first use on this WaitCtx: one pipe for its whole life
			var p [2]int
			if err := unix.Pipe(p[:]); err != nil {
				return -1 // the engine's failure result
			}
			fd, data = p[0], p[1]
			if err := w.SetWaitFD(eng, fd, data, closePipe); err != nil {
				closePipe(w, eng, fd, data) // not registered: Free will not close it
				return -1
			}
		}
		var result int
		work.Add(1)
		go func() { // the "hardware"
			defer work.Done()
			result = op()
			unix.Write(data.(int), []byte{1})
		}()
		async.PauseJob(ctx)
		var buf [1]byte
		unix.Read(fd, buf[:]) // clear the wake signal
		return result
	}

	// The application's side.
	var pool async.Pool
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free() // runs the cleanup: closes the pipe
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
