package async

import "fmt"

// CheckPausable reports an error when j's derived pausable flag disagrees
// with what it is derived from: pausable == active && blocked == 0 &&
// wake == nil. Call it where the caller may read the job's fields: inside
// the job's Func, or on a job the caller owns (after StartJob returned
// Pause, say).
func CheckPausable(j *Job) error {
	if want := j.active && j.blocked == 0 && j.wake == nil; j.pausable != want {
		return fmt.Errorf("job %p: pausable = %v, but active = %v, blocked = %d, wake = %v",
			j, j.pausable, j.active, j.blocked, j.wake)
	}
	return nil
}

// IdleArgBuf returns the whole args buffer of the pool's last finished
// job, or nil if the pool has no such job.
func IdleArgBuf(p *Pool) []byte {
	j := p.last.Load()
	if j == nil || j.state() != stateIdle {
		return nil
	}
	return j.argBuf[:cap(j.argBuf)]
}

// MaxKeptArgs is maxKeptArgs, for tests.
const MaxKeptArgs = maxKeptArgs
