package async

import "strconv"

// Status is what StartJob reports; the values equal OpenSSL's.
type Status int

const (
	Err    Status = 0 // ASYNC_ERR: the job could not be started or resumed
	NoJobs Status = 1 // ASYNC_NO_JOBS: the pool is at its maximum; retry later
	Pause  Status = 2 // ASYNC_PAUSE: the job paused; *job holds its handle
	Finish Status = 3 // ASYNC_FINISH: the job returned; *job is nil
)

// String returns the OpenSSL name of the status, such as "ASYNC_PAUSE".
func (s Status) String() string {
	switch s {
	case Err:
		return "ASYNC_ERR"
	case NoJobs:
		return "ASYNC_NO_JOBS"
	case Pause:
		return "ASYNC_PAUSE"
	case Finish:
		return "ASYNC_FINISH"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// EngineStatus is ASYNC_STATUS_*: what an engine reports through a WaitCtx
// about the request it was given. The values equal OpenSSL's.
type EngineStatus int

const (
	// StatusUnsupported: the engine does not use the callback mechanism.
	// It is the default.
	StatusUnsupported EngineStatus = 0
	// StatusErr: the engine has a fatal problem with this request; the
	// application should clean up the session.
	StatusErr EngineStatus = 1
	// StatusOK: the request was submitted; the callback will be called.
	StatusOK EngineStatus = 2
	// StatusEAGAIN: the engine has a passing problem (a full queue, say);
	// the application should resume the job to retry.
	StatusEAGAIN EngineStatus = 3
)

// String returns the OpenSSL name of the status, such as "ASYNC_STATUS_OK".
func (s EngineStatus) String() string {
	switch s {
	case StatusUnsupported:
		return "ASYNC_STATUS_UNSUPPORTED"
	case StatusErr:
		return "ASYNC_STATUS_ERR"
	case StatusOK:
		return "ASYNC_STATUS_OK"
	case StatusEAGAIN:
		return "ASYNC_STATUS_EAGAIN"
	}
	return "EngineStatus(" + strconv.Itoa(int(s)) + ")"
}

func (s EngineStatus) valid() bool { return s >= StatusUnsupported && s <= StatusEAGAIN }
