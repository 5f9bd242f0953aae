package engine

import (
	"errors"
	"fmt"

	"github.com/seed-e1024768/async/internal/wake"
)

var (
	// ErrGoexit is the Value of the *PanicError reported when application
	// code that an engine ran on its own goroutine (a WaitCtx's callback,
	// or a function given to the engine) called runtime.Goexit, as
	// testing.T.FailNow and log.Fatal-style helpers do.
	ErrGoexit = errors.New("runtime.Goexit called on an engine's goroutine")
	// ErrNoWaitFD: NotifyFD was asked for on an OS without wait fds (they
	// are eventfds, which only Linux has).
	ErrNoWaitFD = wake.ErrNoWaitFD
	// ErrBadNotify: New was given a Notify that is not one of the three.
	ErrBadNotify = errors.New("engine: unknown Notify")
)

// PanicError reports application code that an engine ran on a goroutine
// of its own and that did not return: a WaitCtx's callback (Callback set)
// or a function the application gave the engine to run (such as
// offload's Do) that panicked or called runtime.Goexit. The job is not
// harmed, and neither is the engine: a goroutine ended by Goexit is
// replaced.
//
// The operation the code ran for returns it, joined with async.ErrCanceled
// or async.ErrClosed if its job was canceled or its pool closed meanwhile.
// When the operation had returned already (the callback resumed the job
// itself, which took its result), the engine's Close returns the first
// such error instead.
//
// It is a type of its own, not the package async's *PanicError: that one
// says a job's Func failed and the job was discarded, this one that the
// application's code failed on the engine's side while the job lives on.
type PanicError struct {
	Engine   string // the engine's name, which starts the message ("offload")
	Func     string // what failed: "WaitCtx callback", or the engine's name for a function given to it ("Do func")
	Callback bool   // Func is the WaitCtx's callback
	Value    any    // the value passed to panic, or ErrGoexit
	Stack    []byte // the goroutine's stack when it panicked or exited
}

// Error says which code failed and how.
func (e *PanicError) Error() string {
	if e.Value == ErrGoexit {
		return e.Engine + ": " + e.Func + " called runtime.Goexit"
	}
	return fmt.Sprintf("%s: %s panicked: %v", e.Engine, e.Func, e.Value)
}

// Unwrap returns Value when it is an error, so that errors.Is and
// errors.As see through the panic (errors.Is(err, ErrGoexit), say).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
