package offload

import (
	"errors"

	"github.com/seed-e1024768/async/engine"
)

// Errors reported by the engine. Test for them with errors.Is: the errors
// returned may wrap them with more detail.
var (
	// ErrClosed: the engine was closed. Every operation started after
	// Close returns it, and so does an offloaded operation whose request
	// was still in the ring when Close was called.
	ErrClosed = errors.New("offload: engine closed")
	// ErrBadConfig: New was given a Depth outside 0 to MaxDepth, Workers
	// outside 0 to MaxWorkers, or an unknown Notify; or NotifyFD where
	// there are no wait fds (see engine.ErrNoWaitFD).
	ErrBadConfig = errors.New("offload: bad config")
	// ErrBadInput: an operation was given a nil or wrong-sized key, a nil
	// AEAD or function, a nonce of the wrong size, or a digest of the wrong
	// length.
	ErrBadInput = errors.New("offload: bad input")
	// ErrGoexit is the Value of the *PanicError reported when Do's func or
	// a WaitCtx's callback called runtime.Goexit on a worker, as
	// testing.T.FailNow and log.Fatal-style helpers do: package engine's.
	ErrGoexit = engine.ErrGoexit
)

// PanicError reports application code that the engine ran on a worker and
// that did not return: a WaitCtx's callback that panicked or called
// runtime.Goexit (Callback set), or a func given to Do that called
// runtime.Goexit (Func "Do func"). A panic in Do's func is raised again in
// the caller instead, as if the func had run there. It is package
// engine's, the same for every engine: see there when the operation
// returns it and when Close does.
type PanicError = engine.PanicError
