package engine

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"github.com/seed-e1024768/async/internal/wake"
)

// Config says how one engine keeps the contract. The engine makes a
// Waker from it once, in its constructor.
type Config struct {
	// Key is the engine's key in WaitCtxs, the one its wait fd is set
	// under: normally the engine's own pointer.
	Key any
	// Name is the engine's name, which starts the messages of the errors
	// the Waker reports ("offload").
	Name string
	// Notify says how paused jobs are woken.
	Notify Notify
	// AppParks says that the application waits for wait fds by parking
	// its goroutine (package loop does), never by blocking its thread in
	// poll(2): then a job need not yield after it submits a request to let
	// the engine's goroutine start before the application blocks.
	AppParks bool
	// YieldEvery is how often a job resumed before its result came yields
	// the processor before it pauses again: every YieldEvery-th time (0
	// or 1: every time). An engine whose results come from other
	// goroutines that need the processor yields every time; one whose
	// results come from the network yields less often, since a goroutine
	// that yields all the time keeps Go's scheduler from polling the
	// network (it polls when it finds nothing else to run). Yielding at
	// all matters when pausing is blocked (async.BlockPause): PauseJob
	// then returns at once, and the job waits without pausing.
	YieldEvery int
	// EndsDone says that the engine itself ends, at once, every request
	// it holds whose ctx is done (remote's sweeper does, with an error
	// that says why no answer came in time): a job resumed with its ctx
	// done then pauses again until the engine has, rather than return
	// ctx's bare error.
	EndsDone bool
}

// A Waker keeps the contract for one engine: it pauses the jobs that
// submit requests to the engine (Await), hands the engine's results back
// to them (Complete), and keeps the failures of callbacks that came too
// late to be reported by their operation (Lost). It is safe for use by
// many goroutines.
type Waker struct {
	name       string
	notify     Notify
	policy     wake.Policy
	appParks   bool
	yieldEvery int
	endsDone   bool
	lost       atomic.Pointer[PanicError]
}

// New makes the Waker of an engine. Its errors: ErrBadNotify for an
// unknown Notify, ErrNoWaitFD for NotifyFD where there are no wait fds
// (every OS but Linux); both are wrapped with the engine's name.
func New(c Config) (*Waker, error) {
	switch {
	case c.Notify < NotifyAuto || c.Notify > NotifyPoll:
		return nil, fmt.Errorf("%s: %v: %w", c.Name, c.Notify, ErrBadNotify)
	case c.Notify == NotifyFD && !wake.Available:
		return nil, fmt.Errorf("%s: %v: %w", c.Name, c.Notify, ErrNoWaitFD)
	}
	return &Waker{
		name:   c.Name,
		notify: c.Notify,
		policy: wake.Policy{
			Key:      c.Key,
			Callback: c.Notify == NotifyAuto,
			FD:       c.Notify != NotifyPoll,
			Pkg:      c.Name,
		},
		appParks:   c.AppParks,
		yieldEvery: max(c.YieldEvery, 1),
		endsDone:   c.EndsDone,
	}, nil
}

// Notify returns how the Waker wakes jobs.
func (k *Waker) Notify() Notify { return k.notify }

// Lost returns the first failure of a WaitCtx callback that came after its
// operation had returned (a *PanicError), or nil. An engine's Close
// returns it.
func (k *Waker) Lost() error {
	if pe := k.lost.Load(); pe != nil {
		return pe
	}
	return nil
}

// PanicError returns the error for a function the application gave the
// engine, named fn ("Do func"), that failed on an engine's goroutine with
// value v (ErrGoexit for runtime.Goexit). It takes the current stack, so
// call it from the deferred function that found the failure.
func (k *Waker) PanicError(fn string, v any) *PanicError {
	return &PanicError{Engine: k.name, Func: fn, Value: v, Stack: debug.Stack()}
}
