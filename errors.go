package async

import (
	"errors"
	"fmt"
)

// Errors reported by this package. Test for them with errors.Is: the errors
// returned may wrap them with more detail.
var (
	// ErrClosed: the pool was closed. StartJob on a closed pool returns it,
	// and PauseJob returns it inside a job that Close unwinds.
	ErrClosed = errors.New("async: pool closed")
	// ErrCanceled: PauseJob returns it inside a job ended with CancelJob.
	ErrCanceled = errors.New("async: job canceled")
	// ErrJobsOutstanding: Close found paused jobs and had to unwind them.
	ErrJobsOutstanding = errors.New("async: jobs outstanding")
	// ErrFreed: the WaitCtx was freed with Free.
	ErrFreed = errors.New("async: WaitCtx freed")
	// ErrNoFD: no wait fd is set under the key given to ClearFD.
	ErrNoFD = errors.New("async: no fd set under key")

	// ErrWrongPool: the job was resumed or canceled through a pool other
	// than the one that started it.
	ErrWrongPool = errors.New("async: job belongs to another pool")
	// ErrRunning: the job is running (another goroutine resumed it, or it is
	// the caller's own job), so it cannot be resumed or canceled now.
	ErrRunning = errors.New("async: job is running")
	// ErrNotPaused: the handle is not that of a paused job: the job
	// finished, was canceled, or was discarded after a panic.
	ErrNotPaused = errors.New("async: job is not paused")
	// ErrNilJob: StartJob or CancelJob was given a nil **Job.
	ErrNilJob = errors.New("async: nil job pointer")
	// ErrNilWaitCtx: a new job needs a WaitCtx; or a method was called on a
	// nil *WaitCtx.
	ErrNilWaitCtx = errors.New("async: nil WaitCtx")
	// ErrNilFunc: a new job needs a Func.
	ErrNilFunc = errors.New("async: nil Func")
	// ErrNilContext: a new job needs a context.
	ErrNilContext = errors.New("async: nil context")
	// ErrWrongWaitCtx: a job was resumed with a WaitCtx that is not its own.
	// Pass nil or the job's own WaitCtx when resuming.
	ErrWrongWaitCtx = errors.New("async: job resumed with another WaitCtx")
	// ErrBadSize: NewPool was given a negative size, initSize > maxSize
	// where maxSize > 0, or initSize > MaxInitSize.
	ErrBadSize = errors.New("async: bad pool size")
	// ErrInvalidKey: a wait fd key is nil, not comparable (a func, map or
	// slice, or a struct or array holding one in an interface field), or
	// not equal to itself (NaN).
	ErrInvalidKey = errors.New("async: wait fd key is nil or not comparable")
	// ErrKeyExists: SetWaitFD was given a key that already has an fd set;
	// ClearFD it first.
	ErrKeyExists = errors.New("async: an fd is already set under key")
	// ErrBadFD: SetWaitFD was given a negative fd.
	ErrBadFD = errors.New("async: negative fd")
	// ErrBadStatus: SetStatus was given a value that is not an EngineStatus
	// constant.
	ErrBadStatus = errors.New("async: bad engine status")
	// ErrGoexit is the Value of the *PanicError reported when a job's Func
	// called runtime.Goexit.
	ErrGoexit = errors.New("async: job called runtime.Goexit")
)

// PanicError is the error StartJob and CancelJob return when a job's Func
// panicked or called runtime.Goexit. The job is discarded, not returned to
// its pool.
type PanicError struct {
	Value any    // the value passed to panic (even while a Goexit unwound the Func), or ErrGoexit
	Stack []byte // the job's stack when it panicked
}

// Error says what the job panicked with, or that it called runtime.Goexit.
func (e *PanicError) Error() string {
	if e.Value == ErrGoexit {
		return ErrGoexit.Error()
	}
	return fmt.Sprintf("async: job panicked: %v", e.Value)
}

// Unwrap returns Value when it is an error, so errors.Is and errors.As see
// through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
