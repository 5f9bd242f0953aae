//go:build linux

package loop

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/internal/leaktest"
	"golang.org/x/sys/unix"
)

// This file holds tiny fake engines: async-aware code that hands an
// operation to worker goroutines, pauses the job, and is resumed by the
// loop once the worker is done.

type notifyKind int

const (
	kindFD       notifyKind = iota // one eventfd per WaitCtx, written on completion
	kindCallback                   // the WaitCtx's callback if it has one (else the fd), as NotifyAuto
	kindPoll                       // nothing: the job checks a done flag when resumed
	kindSharedFD                   // one eventfd for every WaitCtx: many spurious resumes
	kindChurnFD                    // a new eventfd per operation, the old one cleared and closed
)

type fakeEngine struct {
	kind    notifyKind
	ringCap int64         // >0: at most this many ops in the workers; more get StatusEAGAIN
	never   bool          // operations never complete: only cancellation ends them
	delay   time.Duration // how long a worker takes over an operation

	inRing   atomic.Int64
	eagains  atomic.Int64
	spurious atomic.Int64
	paused   atomic.Int64 // ops paused right now
	reqs     chan *fakeReq
	wg       sync.WaitGroup
	sharedFD int
}

type fakeReq struct {
	in, out int
	done    atomic.Bool
	fd      int // written on completion unless -1
	cb      async.CallbackFunc
	arg     any
	eng     *fakeEngine
}

func newFakeEngine(t testing.TB, kind notifyKind, workers int) *fakeEngine {
	e := &fakeEngine{kind: kind, reqs: make(chan *fakeReq, 4096), sharedFD: -1}
	if kind == kindSharedFD {
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC|unix.EFD_SEMAPHORE)
		if err != nil {
			t.Fatal(err)
		}
		e.sharedFD = fd
	}
	for range workers {
		e.wg.Add(1)
		go e.worker()
	}
	t.Cleanup(e.close)
	return e
}

func (e *fakeEngine) close() {
	if e.reqs == nil {
		return
	}
	close(e.reqs)
	e.wg.Wait()
	e.reqs = nil
	if e.sharedFD >= 0 {
		unix.Close(e.sharedFD)
	}
}

func (e *fakeEngine) worker() {
	defer e.wg.Done()
	for r := range e.reqs {
		if e.delay > 0 {
			time.Sleep(e.delay)
		}
		r.out = 2*r.in + 1
		e.inRing.Add(-1)
		switch {
		case e.kind == kindSharedFD:
			// A semaphore eventfd holding one token per completion not yet
			// taken by its job: readable while some job is still to be
			// told. The token goes first, so a job that sees done always
			// finds one to take.
			unix.Write(r.fd, one[:])
			r.done.Store(true)
		case r.cb != nil:
			r.done.Store(true)
			r.cb(r.arg)
		case r.fd >= 0:
			r.done.Store(true)
			unix.Write(r.fd, one[:])
		default:
			r.done.Store(true)
		}
	}
}

func closeFDCleanup(_ *async.WaitCtx, _ any, fd int, _ any) { unix.Close(fd) }

// waitFD returns the WaitCtx's eventfd for this engine, made on first use.
func (e *fakeEngine) waitFD(w *async.WaitCtx) int {
	switch e.kind {
	case kindSharedFD:
		if _, _, ok := w.FD(e); !ok {
			w.SetWaitFD(e, e.sharedFD, nil, nil)
		}
		return e.sharedFD
	case kindChurnFD:
		if old, _, ok := w.FD(e); ok {
			w.ClearFD(e)
			unix.Close(old) // the new one likely gets the same number
		}
	default:
		if fd, _, ok := w.FD(e); ok {
			return fd
		}
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		panic(err)
	}
	if err := w.SetWaitFD(e, fd, nil, closeFDCleanup); err != nil {
		panic(err)
	}
	return fd
}

// op computes 2*in+1 on a worker when called inside a job, pausing until
// it is done; outside a job it computes it at once.
func (e *fakeEngine) op(ctx context.Context, in int) (int, error) {
	job := async.CurrentJob(ctx)
	if job == nil {
		return 2*in + 1, nil
	}
	w := job.WaitCtx()
	for e.ringCap > 0 && e.inRing.Add(1) > e.ringCap {
		e.inRing.Add(-1)
		e.eagains.Add(1)
		w.SetStatus(async.StatusEAGAIN)
		if err := e.pause(ctx); err != nil {
			return 0, err
		}
	}
	if e.ringCap <= 0 {
		e.inRing.Add(1)
	}
	r := &fakeReq{in: in, fd: -1, eng: e}
	switch e.kind {
	case kindCallback:
		if fn, arg, ok := w.Callback(); ok {
			r.cb, r.arg = fn, arg
		} else {
			r.fd = e.waitFD(w)
		}
	case kindFD, kindSharedFD, kindChurnFD:
		r.fd = e.waitFD(w)
	}
	if e.never {
		for {
			if r.cb != nil {
				w.SetStatus(async.StatusOK)
			}
			if err := e.pause(ctx); err != nil {
				e.inRing.Add(-1)
				return 0, err
			}
		}
	}
	e.reqs <- r
	for {
		if r.cb != nil {
			w.SetStatus(async.StatusOK)
		}
		if err := e.pause(ctx); err != nil {
			return 0, err // a late completion writes only r
		}
		if r.fd >= 0 && e.kind != kindSharedFD {
			var b [8]byte
			unix.Read(r.fd, b[:])
		}
		if r.done.Load() {
			switch e.kind {
			case kindSharedFD:
				var b [8]byte
				unix.Read(r.fd, b[:]) // this job's token
			case kindChurnFD:
				if in%3 == 0 {
					// Change fds after the last resume and finish without
					// pausing: the next job on this WaitCtx starts with
					// the change still in ChangedFDs' window.
					e.waitFD(w)
				}
			}
			return r.out, nil
		}
		e.spurious.Add(1)
	}
}

func (e *fakeEngine) pause(ctx context.Context) error {
	e.paused.Add(1)
	defer e.paused.Add(-1)
	return async.PauseJob(ctx)
}

// ops is a task Func: it applies the engine's op n times in a row (n from
// args[4]) to the little-endian uint32 in args[:4].
func (e *fakeEngine) task(ctx context.Context, args []byte) int {
	v := int(binary.LittleEndian.Uint32(args))
	for range int(args[4]) {
		var err error
		if v, err = e.op(ctx, v); err != nil {
			return -1
		}
	}
	return v
}

func taskArgs(in, ops int) []byte {
	b := make([]byte, 5)
	binary.LittleEndian.PutUint32(b, uint32(in))
	b[4] = byte(ops)
	return b
}

func expected(in, ops int) int {
	for range ops {
		in = 2*in + 1
	}
	return in
}

// leakCheck fails the test if, when it ends, goroutines it started are
// still running or it left fds open.
func leakCheck(t *testing.T) {
	t.Helper()
	leaktest.Check(t)
}
