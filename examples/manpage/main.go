//go:build linux

// Command manpage is the example program from the EXAMPLES section of
// OpenSSL's ASYNC_start_job(3) man page, translated to Go with the same
// structure, so that the two can be read side by side.
//
// This program is Linux-only (pipe2, poll).
//
// It shows the core of the API: a job is started with [async.Pool.StartJob];
// inside it, [async.CurrentJob] finds the job and the job registers a real
// file descriptor (the read end of a pipe) with its wait context under a
// key that belongs to the "async-aware" code, makes that fd readable, and
// pauses with [async.PauseJob]. StartJob then returns [async.Pause]; the
// caller asks the wait context for its fds ([async.WaitCtx.AllFDs]), waits
// for the fd to become readable (poll(2) here, select(2) in the C) and
// calls StartJob again to resume the job, which clears the wake signal and
// returns. Freeing the wait context runs the cleanup registered with the
// fd, which closes both ends of the pipe.
//
// How the C maps to Go:
//
//   - int unique; &unique as the key          -> var unique int; &unique as the key (any comparable value works)
//   - cleanup(ctx, key, r, vw)                -> cleanup, an [async.CleanupFunc]; the custom data is a *writeEnd,
//     as the C passes a malloc'd OSSL_ASYNC_FD*
//   - jobfunc(void *arg)                      -> jobfunc, an [async.Func]; the message is the job's own copy of
//     the bytes given to StartJob, "Hello world!" with its NUL, printed as %s prints it (up to the NUL)
//   - ASYNC_get_current_job()                 -> async.CurrentJob(ctx): the current job travels in ctx
//   - ASYNC_get_wait_ctx(job)                 -> job.WaitCtx()
//   - ASYNC_WAIT_CTX_set_wait_fd              -> WaitCtx.SetWaitFD
//   - pipe(2), write(2), read(2), select(2)   -> unix.Pipe2 (O_CLOEXEC), unix.Write, unix.Read, unix.Poll
//   - ASYNC_pause_job()                       -> async.PauseJob(ctx)
//   - the implicit per-thread pool            -> the zero async.Pool, closed at the end (ASYNC_cleanup_thread)
//   - ASYNC_start_job(&job, ctx, &ret, ...)   -> pool.StartJob(ctx, &job, wctx, jobfunc, msg)
//   - ASYNC_WAIT_CTX_get_all_fds              -> WaitCtx.AllFDs
//   - ASYNC_WAIT_CTX_free                     -> WaitCtx.Free, which calls cleanup
//
// Where the C ignores a failure (set_wait_fd, write, read, select, close)
// or aborts, this program reports the error on stderr and exits with
// status 1; the lines it prints on stdout are the C's. ASYNC_ERR and
// ASYNC_NO_JOBS print "An error occurred" and end as in the C, but the
// reason the Go API gives is reported too and the exit status is 1.
//
// Expected output:
//
//	Starting...
//	Executing within a job
//	Passed in message is: Hello world!
//	Job was paused
//	Waiting for the job to be woken up
//	Resumed the job after a pause
//	Job finished with return value 1
//	Finishing
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
)

// unique is the key: its address is unique to this program's async-aware
// code, as in the C.
var unique int

// writeEnd is the custom data stored with the read end of the pipe: the
// write end, so that cleanup can close both (the C stores a malloc'd
// OSSL_ASYNC_FD*), and the run's state, so that cleanup can report a
// failed close.
type writeEnd struct {
	fd int
	st *state
}

// cleanup is called by WaitCtx.Free for the fd set under &unique: it closes
// the read end r and the write end held in the custom data.
func cleanup(_ *async.WaitCtx, _ any, r int, data any) {
	w, ok := data.(*writeEnd)
	if !ok {
		// Cannot happen: jobfunc is the only code that sets an fd. Close
		// what we have and let it show.
		_ = unix.Close(r)
		panic(fmt.Sprintf("manpage: cleanup got custom data of type %T", data))
	}
	if err := unix.Close(r); err != nil {
		w.st.fail(fmt.Errorf("closing the read end of the pipe: %w", err))
	}
	if err := unix.Close(w.fd); err != nil {
		w.st.fail(fmt.Errorf("closing the write end of the pipe: %w", err))
	}
}

// jobfunc is the job's code.
func jobfunc(ctx context.Context, args []byte) int {
	st := stateFrom(ctx)

	currjob := async.CurrentJob(ctx)
	if currjob != nil {
		st.printf("Executing within a job\n")
	} else {
		st.printf("Not executing within a job - should not happen\n")
		st.fail(errors.New("jobfunc: CurrentJob returned nil inside a job"))
		return 0
	}

	// The C prints the message with %s, which stops at the NUL.
	msg := args
	if i := bytes.IndexByte(msg, 0); i >= 0 {
		msg = msg[:i]
	}
	st.printf("Passed in message is: %s\n", msg)

	var pipefds [2]int
	if err := unix.Pipe2(pipefds[:], unix.O_CLOEXEC); err != nil {
		st.printf("Failed to create pipe\n")
		st.fail(fmt.Errorf("creating the pipe: %w", err))
		return 0
	}
	wend := &writeEnd{fd: pipefds[1], st: st}
	if err := currjob.WaitCtx().SetWaitFD(&unique, pipefds[0], wend, cleanup); err != nil {
		// Not registered, so cleanup will not run: close them here.
		_ = unix.Close(pipefds[0])
		_ = unix.Close(pipefds[1])
		st.fail(fmt.Errorf("setting the wait fd: %w", err))
		return 0
	}
	// From here on the wait context owns both fds: Free closes them.

	// Normally some external event would cause this to happen at some later
	// point - but we do it here for demo purposes, i.e. immediately
	// signalling that the job is ready to be woken up after we return to
	// main via PauseJob.
	buf := []byte{'X'}
	if err := writeByte(pipefds[1], buf); err != nil {
		st.fail(fmt.Errorf("writing the wake signal: %w", err))
		return 0
	}

	// Return control back to main.
	if err := async.PauseJob(ctx); err != nil {
		// The job was canceled or its pool closed while it was paused
		// (only when run gives up early): unwind without touching the
		// fds, which Free may already have closed.
		st.fail(fmt.Errorf("pausing the job: %w", err))
		return 0
	}

	// Clear the wake signal.
	if err := readByte(pipefds[0], buf); err != nil {
		st.fail(fmt.Errorf("clearing the wake signal: %w", err))
		return 0
	}

	st.printf("Resumed the job after a pause\n")

	return 1
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "manpage:", err)
		os.Exit(1)
	}
}

// run is the C's main, printing to out. It returns every error the program
// met, joined; nil means the run went as the man page says.
func run(out io.Writer) (err error) {
	st := &state{out: out}
	ctx := context.WithValue(context.Background(), stateKey{}, st)

	// The C uses the implicit per-thread pool; the zero Pool is its Go form.
	var pool async.Pool
	var job *async.Job
	msg := []byte("Hello world!\x00") // unsigned char msg[13], passed with sizeof(msg)

	st.printf("Starting...\n")

	// NewWaitCtx cannot fail (the C aborts when ASYNC_WAIT_CTX_new does).
	wctx := async.NewWaitCtx()

	// On the way out, on every path: free the wait context (a no-op after
	// the Free at "end"), then close the pool. Close unwinds a job still
	// paused when run gives up early; jobfunc then returns at once.
	// The errors of Free's cleanup and of Close come after the returns
	// below, so err is computed again here.
	defer func() {
		wctx.Free()
		if cerr := pool.Close(); cerr != nil {
			st.fail(fmt.Errorf("closing the pool: %w", cerr))
		}
		err = st.result()
	}()

jobs:
	for {
		status, ret, serr := pool.StartJob(ctx, &job, wctx, jobfunc, msg)
		switch status {
		case async.Err, async.NoJobs:
			st.printf("An error occurred\n")
			if serr == nil { // NoJobs comes with a nil error
				serr = fmt.Errorf("StartJob returned %v", status)
			}
			st.fail(fmt.Errorf("starting the job: %w", serr))
			break jobs // goto end
		case async.Pause:
			st.printf("Job was paused\n")
		case async.Finish:
			st.printf("Job finished with return value %d\n", ret)
			break jobs // goto end
		default:
			st.fail(fmt.Errorf("StartJob returned unknown status %d (err %v)", int(status), serr))
			return st.result()
		}

		// Wait for the job to be woken.
		st.printf("Waiting for the job to be woken up\n")

		fds := wctx.AllFDs()
		if len(fds) != 1 {
			st.printf("Unexpected number of fds\n")
			st.fail(fmt.Errorf("unexpected number of fds: %d, want 1", len(fds)))
			return st.result() // the C aborts here
		}
		if err := waitReadable(fds[0]); err != nil {
			st.fail(fmt.Errorf("waiting for fd %d: %w", fds[0], err))
			return st.result()
		}
	}

	// end:
	wctx.Free()
	st.printf("Finishing\n")

	return st.result()
}

// waitReadable blocks until fd is readable, as the C's select(2) does.
func waitReadable(fd int) error {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("poll: %w", err)
		}
		if n < 1 {
			continue // cannot happen without a timeout
		}
		if pfd[0].Revents&unix.POLLNVAL != 0 {
			return errors.New("poll: fd is not open")
		}
		if pfd[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0 {
			return nil // readable, or a read will not block
		}
	}
}

// writeByte writes the one byte of buf to fd.
func writeByte(fd int, buf []byte) error {
	for {
		n, err := unix.Write(fd, buf[:1])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("wrote %d bytes, want 1", n)
		}
		return nil
	}
}

// readByte reads one byte from fd into buf.
func readByte(fd int, buf []byte) error {
	for {
		n, err := unix.Read(fd, buf[:1])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("read %d bytes, want 1", n)
		}
		return nil
	}
}

// state is what one run shares with jobfunc and cleanup: where the C's
// printf goes, and the errors met on the way. The job runs only while run
// waits in StartJob (or Close), so no lock is needed.
type state struct {
	out  io.Writer
	errs []error
	werr error // first error writing to out
}

type stateKey struct{}

// stateFrom returns the state run put in ctx. jobfunc is only ever started
// by run, so it is always there.
func stateFrom(ctx context.Context) *state {
	st, ok := ctx.Value(stateKey{}).(*state)
	if !ok {
		panic("manpage: jobfunc started without run's state in its context")
	}
	return st
}

// printf is the C's printf: output errors are kept, not lost.
func (st *state) printf(format string, args ...any) {
	if st.werr != nil {
		return
	}
	if _, err := fmt.Fprintf(st.out, format, args...); err != nil {
		st.werr = fmt.Errorf("writing output: %w", err)
	}
}

func (st *state) fail(err error) { st.errs = append(st.errs, err) }

func (st *state) result() error {
	return errors.Join(append(st.errs, st.werr)...)
}
