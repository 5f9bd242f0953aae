package wake

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/seed-e1024768/async"
)

// ErrNoWaitFD says that this OS has no wait fds (they are eventfds, which
// only Linux has), so an engine cannot be told to use one.
var ErrNoWaitFD = errors.New("wait fds need eventfd(2), which " + runtime.GOOS + " lacks: use a callback or poll")

// A Policy is how one engine wakes the jobs it pauses. The engine makes it
// once, when it is made, and passes it to Wake.Set for each operation.
type Policy struct {
	// Key is the engine's key in WaitCtxs, the one its wait fd is set
	// under: the engine's pointer.
	Key any
	// Callback allows the WaitCtx's callback: when the WaitCtx has one it
	// is used, and no wait fd.
	Callback bool
	// FD allows the engine's wait fd, used when the callback is not.
	FD bool
	// Pkg is the engine's package name, which starts the messages of the
	// errors it reports ("offload").
	Pkg string

	mu sync.Mutex         // makes fd
	fd atomic.Pointer[FD] // the engine's wait fd, shared by its WaitCtxs; nil until first used
}

// Wake is how to wake the job of one operation: at most one of FD and
// Callback is set; neither when the application polls. The zero Wake wakes
// no one.
type Wake struct {
	// FD is the engine's wait fd for the job's WaitCtx; the Wake holds a
	// reference to it until Reset.
	FD *FD
	// Callback and Arg are the WaitCtx's callback, as Set found it.
	Callback async.CallbackFunc
	Arg      any

	w     *async.WaitCtx // the job's, with FD
	quiet bool           // the last Signal was quiet (see FD.WatchFor); the engine's until the job's Drain
}

// Set arranges how to wake the job whose WaitCtx is w, as p says, into the
// zero Wake k, and returns the engine status the job is to pause with:
// async.StatusOK when k is to call the callback, else
// async.StatusUnsupported. Its errors are those of setting up the wait fd:
// a failed eventfd(2) (wrapping its errno), or SetWaitFD's error (w freed,
// even as Set runs, or an fd of something else set under p.Key); k is left
// zero then.
func (k *Wake) Set(w *async.WaitCtx, p *Policy) (async.EngineStatus, error) {
	if p.Callback {
		if fn, arg, ok := w.Callback(); ok {
			k.Callback, k.Arg = fn, arg
			return async.StatusOK, nil
		}
	}
	if p.FD && Available {
		f, err := waitFD(w, p) // with k's reference, dropped by Reset
		if err != nil {
			return async.StatusUnsupported, err
		}
		k.FD, k.w = f, w
	}
	return async.StatusUnsupported, nil
}

// Signal wakes the job through k's wait fd: it makes the fd readable, or,
// when the job's application watches the fd for the job's WaitCtx (see
// FD.WatchFor), only tells the watcher. Each Signal is matched by one
// Drain, by the job, after it was woken.
func (k *Wake) Signal() {
	k.quiet = k.FD.signalFor(k.w)
}

// Drain takes back the last Signal of k.
func (k *Wake) Drain() {
	k.FD.drainFor(k.quiet)
	k.quiet = false
}

// Reset drops k's reference to its wait fd and its callback, leaving k
// zero for the next operation.
func (k *Wake) Reset() {
	if k.FD != nil {
		k.FD.unref()
		k.FD, k.w = nil, nil
	}
	k.Callback, k.Arg = nil, nil
}

// PauseRetry pauses the job of ctx, whose WaitCtx is w, for an engine with
// no room for its operation yet: with async.StatusEAGAIN, which asks the
// application to resume it soon, and k's wait fd (if any) readable, so that
// an application waiting on it does. The fd is drained again before
// PauseRetry returns PauseJob's error; no callback is called.
func (k *Wake) PauseRetry(ctx context.Context, w *async.WaitCtx) error {
	SetStatus(w, async.StatusEAGAIN)
	if k.FD != nil {
		k.Signal()
	}
	err := async.PauseJob(ctx)
	if k.FD != nil {
		k.Drain()
	}
	return err
}

// SetStatus sets w's engine status to s unless it is s already.
func SetStatus(w *async.WaitCtx, s async.EngineStatus) {
	if w.Status() != s {
		_ = w.SetStatus(s) // fails only if w was freed; resuming will say so
	}
}
