package engine

import "strconv"

// Notify says how an engine tells the application that a paused job can
// be resumed. Package loop pairs its ModeFD with NotifyFD, ModeCallback
// with NotifyAuto and ModePoll with NotifyPoll.
type Notify int

const (
	// NotifyAuto follows the man page's rule: call the WaitCtx's callback
	// if it has one (after setting the status to async.StatusOK), else make
	// the engine's wait fd readable. Where there are no wait fds (every OS
	// but Linux) a job whose WaitCtx has no callback is left to the
	// application to poll.
	NotifyAuto Notify = iota
	// NotifyFD always uses the wait fd and never calls a callback. It
	// needs Linux (the fd is an eventfd): elsewhere New refuses it with
	// ErrNoWaitFD.
	NotifyFD
	// NotifyPoll sets no fd and calls no callback: the application polls by
	// resuming the job, which pauses again until its operation is done.
	NotifyPoll
)

// String returns the constant's name, such as "NotifyAuto".
func (n Notify) String() string {
	switch n {
	case NotifyAuto:
		return "NotifyAuto"
	case NotifyFD:
		return "NotifyFD"
	case NotifyPoll:
		return "NotifyPoll"
	}
	return "Notify(" + strconv.Itoa(int(n)) + ")"
}
