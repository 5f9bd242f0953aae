//go:build linux

package offload

import (
	"errors"
	"fmt"
)

// Errors reported by the engine. Test for them with errors.Is: the errors
// returned may wrap them with more detail.
var (
	// ErrClosed: the engine was closed. Every operation started after
	// Close returns it, and so does an offloaded operation whose request
	// was still in the ring when Close was called.
	ErrClosed = errors.New("offload: engine closed")
	// ErrBadConfig: New was given a Depth outside 0 to MaxDepth, Workers
	// outside 0 to MaxWorkers, or an unknown Notify.
	ErrBadConfig = errors.New("offload: bad config")
	// ErrBadInput: an operation was given a nil or wrong-sized key, a nil
	// AEAD or function, a nonce of the wrong size, or a digest of the wrong
	// length.
	ErrBadInput = errors.New("offload: bad input")
	// ErrGoexit is the Value of the *PanicError reported when Do's func or
	// a WaitCtx's callback called runtime.Goexit on a worker, as
	// testing.T.FailNow and log.Fatal-style helpers do.
	ErrGoexit = errors.New("offload: runtime.Goexit called on a worker")
)

// PanicError reports application code that the engine ran on a worker and
// that did not return: a WaitCtx's callback that panicked or called
// runtime.Goexit, or a func given to Do that called runtime.Goexit. (A
// panic in Do's func is raised again in the caller instead, as if the func
// had run there.) The operation the code ran for returns it, joined with
// async.ErrCanceled or async.ErrClosed if the job was canceled or its pool
// closed meanwhile. The engine keeps its workers, a worker ended by Goexit
// being replaced by a new one.
//
// When a callback fails after its job has been resumed and has taken its
// result (the callback resumed the job itself, say), no operation is left
// to report to, and Engine.Close returns the first such error instead.
type PanicError struct {
	Callback bool   // the WaitCtx's callback failed, not Do's func
	Value    any    // the value passed to panic, or ErrGoexit
	Stack    []byte // the worker's stack when it panicked or exited
}

// Error says which code failed and how.
func (e *PanicError) Error() string {
	who := "Do func"
	if e.Callback {
		who = "WaitCtx callback"
	}
	if e.Value == ErrGoexit {
		return "offload: " + who + " called runtime.Goexit"
	}
	return fmt.Sprintf("offload: %s panicked: %v", who, e.Value)
}

// Unwrap returns Value when it is an error, so that errors.Is and
// errors.As see through the panic (errors.Is(err, ErrGoexit), say).
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
