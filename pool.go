package async

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Func is the code a job runs. ctx carries the job: CurrentJob(ctx) returns
// it and PauseJob(ctx) pauses it, from any depth of calls that pass ctx on.
// args is the job's own copy of the bytes given to StartJob, valid until
// the Func returns, when the pool wipes it. It has no spare capacity, so
// appending to it makes a new slice: the Func's own, which the pool does
// not wipe. The int it returns is what StartJob reports on Finish.
type Func func(ctx context.Context, args []byte) int

// Pool holds reusable jobs (ASYNC_init_thread / ASYNC_cleanup_thread).
// The zero Pool is ready to use: no maximum and no jobs created up front,
// as OpenSSL does when ASYNC_init_thread was never called.
// A Pool is safe for use by many goroutines at once.
//
// Jobs in a pool hold a parked goroutine each; Close releases them. A Pool
// dropped without Close keeps them for the life of the process.
type Pool struct {
	max    int // immutable after NewPool
	closed atomic.Bool
	// last is the job that finished last, kept idle in stateIdle where
	// StartJob takes it, and the next finishing job returns it, without the
	// lock: one goroutine starting and finishing jobs touches nothing else
	// (see put). It may be nil, or point to a job that is busy or dead.
	last atomic.Pointer[Job]

	mu      sync.Mutex
	idle    []*Job // the other idle jobs, in stateListed: the list owns them
	all     []*Job // every job the pool manages: idle, running and paused
	retired uint64 // starts of jobs discarded from all
}

// PoolStats reports a pool's counters.
type PoolStats struct {
	Max     int    // maxSize (0: none)
	Size    int    // jobs the pool manages now: idle + running + paused
	Idle    int    // jobs ready for reuse
	Paused  int    // jobs paused and not yet finished
	Started uint64 // jobs started since the pool was made
}

// MaxInitSize is the largest initSize NewPool accepts: a million jobs,
// some gigabytes of parked goroutines. maxSize has no such limit: it is a
// bound on what the pool makes as it is used, not something made up front.
const MaxInitSize = 1 << 20

// NewPool makes a pool that holds at most maxSize jobs (0: no limit) and
// creates initSize of them at once. Negative sizes, initSize > maxSize
// where maxSize > 0, and initSize > MaxInitSize are an error wrapping
// ErrBadSize.
func NewPool(maxSize, initSize int) (*Pool, error) {
	if maxSize < 0 || initSize < 0 || (maxSize > 0 && initSize > maxSize) || initSize > MaxInitSize {
		return nil, fmt.Errorf("async: NewPool(%d, %d): %w", maxSize, initSize, ErrBadSize)
	}
	p := &Pool{max: maxSize}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle = make([]*Job, 0, initSize)
	for range initSize {
		j := p.create()
		j.setState(stateListed)
		p.idle = append(p.idle, j)
	}
	return p, nil
}

// StartJob is ASYNC_start_job. It starts a new job running fn when *job is
// nil, or resumes the paused job *job. fn and args are ignored on resume,
// and wctx must be nil or the job's own WaitCtx.
//
// On Pause, *job holds the handle; on Finish, *job is set to nil and ret is
// fn's return value. NoJobs means the pool is at its maximum and no job is
// idle: retry once a job has finished. err is non-nil exactly when the
// status is Err, and says why: ErrNilJob, ErrNilContext, ErrNilWaitCtx,
// ErrNilFunc, ErrFreed or ErrClosed for a new job; ErrWrongPool,
// ErrWrongWaitCtx, ErrRunning (resumed by another goroutine already),
// ErrNotPaused (a finished job's handle), ErrFreed or ErrClosed on resume,
// leaving *job as it was; and a *PanicError when fn panicked or called
// runtime.Goexit, in which case *job is set to nil and the job is
// discarded.
//
// ctx is the parent of the context the job's Func receives; it is taken
// when the job starts and ignored on resume.
//
// The handle in *job is valid only while the job is paused. After Finish
// the Job goes back to the pool and may run another job; a copy of the
// handle kept past that resumes or cancels whatever job reuses it, as a
// stale ASYNC_JOB pointer does in C. Keep the handle only in *job, which
// StartJob clears.
func (p *Pool) StartJob(ctx context.Context, job **Job, wctx *WaitCtx, fn Func, args []byte) (st Status, ret int, err error) {
	// The coroutine switch below must be called from here, not from a
	// helper: every return that crosses a switch is mispredicted, so each
	// frame between the caller and the switch costs several nanoseconds.
	var j *Job
	switch {
	case job == nil:
		return Err, 0, ErrNilJob
	case *job != nil:
		j = *job
		// The common resume, inline here (take inlines): claim the paused
		// job, then check it may run.
		if j.pool != p || !j.take(statePaused) {
			return Err, 0, p.claimError(j)
		}
		if (wctx != nil && wctx != j.wctx) || j.wctx.freed.Load() || p.closed.Load() {
			return Err, 0, p.refuse(j, job, wctx)
		}
		j.wctx.resetWindow()
		j.active = true
		j.pausable = true // it paused, so it was not blocked, and wake is nil
	default:
		if ctx == nil || wctx == nil || fn == nil || wctx.freed.Load() || p.closed.Load() {
			return Err, 0, p.cannotStart(ctx, wctx, fn)
		}
		if j = p.get(); j == nil {
			return NoJobs, 0, nil
		}
		if !j.ctx.same(ctx) {
			j.setParent(ctx)
		}
		j.begin(wctx, fn, args)
	}
	j.next()
	if j.panicked == nil {
		// The common pause and finish, also written out.
		j.active, j.pausable = false, false
		if !j.finished {
			hook(hookBeforePaused)
			j.setState(statePaused)
			if p.closed.Load() { // after publishing Paused: see jobState
				return Err, 0, p.closedWhilePaused(j, job)
			}
			if *job != j { // a new job; a resumed one is there already
				*job = j
			}
			return Pause, 0, nil
		}
		ret := j.ret
		*job = nil
		p.put(j) // which discards it if the pool is closed
		return Finish, ret, nil
	}
	return p.settle(j, job)
}

// cannotStart says why a new job cannot start: it is StartJob's fast-path
// check spelled out, one case for each of its conditions.
func (p *Pool) cannotStart(ctx context.Context, wctx *WaitCtx, fn Func) error {
	switch {
	case ctx == nil:
		return ErrNilContext
	case wctx == nil:
		return ErrNilWaitCtx
	case fn == nil:
		return ErrNilFunc
	case wctx.freed.Load():
		return ErrFreed
	case p.closed.Load():
		return ErrClosed
	}
	panic("async: cannotStart found no reason") // StartJob and this switch disagree
}

// refuse says why the claimed job j, the value of *job, may not be resumed
// now: it is StartJob's fast-path check spelled out, one case for each of
// its conditions. The job goes back to being paused, or, in a closed pool,
// is unwound. Closed comes first: a job handed back paused to a closed
// pool would be left there.
func (p *Pool) refuse(j *Job, job **Job, wctx *WaitCtx) error {
	switch {
	case p.closed.Load():
		*job = nil
		return p.unwindClosed(j)
	case wctx != nil && wctx != j.wctx:
		return p.handBack(j, job, ErrWrongWaitCtx)
	case j.wctx.freed.Load():
		return p.handBack(j, job, ErrFreed)
	}
	panic("async: refuse found no reason") // StartJob and this switch disagree
}

// handBack returns the claimed job j, the value of *job, to being paused
// and returns why, unless the pool was closed while the caller owned j.
func (p *Pool) handBack(j *Job, job **Job, why error) error {
	hook(hookBeforePaused)
	j.setState(statePaused)
	if p.closed.Load() { // after publishing Paused: see jobState
		return p.closedWhilePaused(j, job)
	}
	return why
}

// closedWhilePaused ends the job j, the value of *job or about to be,
// which its owner has just moved to Paused and then found its pool
// closed. Close may have missed j, which was not paused when Close looked,
// so whichever of the two takes it now unwinds it.
func (p *Pool) closedWhilePaused(j *Job, job **Job) error {
	*job = nil
	if !j.take(statePaused) {
		return ErrClosed // Close took it, and unwinds it
	}
	return p.unwindClosed(j)
}

// settle is StartJob's slow path after a switch: the Func, in the job the
// caller owns, panicked or called runtime.Goexit.
func (p *Pool) settle(j *Job, job **Job) (Status, int, error) {
	j.active, j.pausable = false, false
	*job = nil
	err := j.panicked
	p.discard(j)
	return Err, 0, err
}

// CancelJob ends the paused job *job without leaking it: the job is resumed
// with PauseJob returning ErrCanceled (and every later PauseJob in it
// returning ErrCanceled at once) until its Func returns; then *job is set to
// nil, the job goes back to the pool, and ret is what Func returned.
// OpenSSL has no way to do this; its users asked for one.
//
// Errors: ErrNilJob, ErrWrongPool, ErrRunning, ErrNotPaused or ErrClosed,
// leaving *job as it was; a *PanicError when the Func panicked while
// unwinding, with *job set to nil and the job discarded.
func (p *Pool) CancelJob(job **Job) (ret int, err error) {
	if job == nil || *job == nil {
		return 0, ErrNilJob
	}
	j := *job
	if err := p.claim(j); err != nil {
		return 0, err
	}
	*job = nil
	return p.unwind(j, ErrCanceled)
}

// Close is ASYNC_cleanup_thread: it frees the pool's idle jobs. Jobs still
// paused are not leaked: each is resumed once with PauseJob returning
// ErrClosed so that its Func can unwind, and Close reports how many there
// were as an error wrapping ErrJobsOutstanding. Jobs running during Close
// are freed when they pause or finish. StartJob on a closed pool returns
// Err with ErrClosed. Closing a closed pool does nothing and returns nil.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		return nil
	}
	p.closed.Store(true)
	jobs := slices.Clone(p.all)
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()

	for _, j := range idle {
		p.discard(j)
	}
	outstanding := 0
	for _, j := range jobs {
		switch {
		case j.take(stateIdle): // the last job, or one on its way to idle
			p.discard(j)
		case j.take(statePaused):
			outstanding++
			p.unwindClosed(j)
		}
		// Any other job is owned by a StartJob, CancelJob or put under
		// way, which looks at closed after its next state change.
	}
	if outstanding > 0 {
		return fmt.Errorf("async: Close: %d paused jobs unwound: %w", outstanding, ErrJobsOutstanding)
	}
	return nil
}

// Stats reports the pool's counters. It counts every job the pool holds,
// so it costs time in proportion to Size.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := PoolStats{Max: p.max, Size: len(p.all), Started: p.retired}
	for _, j := range p.all {
		w := j.word.Load()
		s.Started += runs(w)
		switch jobState(w & stateMask) {
		case statePaused:
			s.Paused++
		case stateIdle, stateListed:
			s.Idle++
		}
	}
	return s
}

// claim makes the caller the owner of the paused job j, or says why not.
func (p *Pool) claim(j *Job) error {
	if j.pool == p && j.take(statePaused) {
		return nil
	}
	return p.claimError(j)
}

// claimError says why j could not be claimed. In a closed pool that is
// always ErrClosed: the job is being unwound by Close, or is gone.
func (p *Pool) claimError(j *Job) error {
	if j.pool != p {
		return ErrWrongPool
	}
	if p.closed.Load() {
		return ErrClosed
	}
	switch j.state() {
	case stateLive, statePaused: // Paused: claimed and handed back just now
		return ErrRunning
	case stateIdle, stateListed, stateDead:
		return ErrNotPaused // a stale handle
	}
	panic("async: job in unknown state")
}

// unwind resumes the claimed job j with every PauseJob returning why, until
// its Func returns; the job then goes back to the pool.
func (p *Pool) unwind(j *Job, why error) (int, error) {
	j.wake = why
	j.wctx.resetWindow()
	for {
		j.active = true // but not pausable: wake is set
		j.next()
		j.active, j.pausable = false, false
		switch {
		case j.panicked != nil:
			err := j.panicked
			p.discard(j)
			return 0, err
		case j.finished:
			ret := j.ret
			p.put(j)
			return ret, nil
		}
		// Unreachable: PauseJob no longer pauses once wake is set.
	}
}

// unwindClosed unwinds a claimed job of the closed pool and reports why it
// ended: ErrClosed, or the job's panic.
func (p *Pool) unwindClosed(j *Job) error {
	if _, err := p.unwind(j, ErrClosed); err != nil {
		return err
	}
	return ErrClosed
}

// get takes an idle job for a new run, creating one if the pool has room;
// nil if not.
func (p *Pool) get() *Job {
	if j := p.last.Load(); j != nil && j.takeForRun() {
		return j
	}
	return p.getLocked()
}

func (p *Pool) getLocked() *Job {
	p.mu.Lock()
	j := p.takeLocked()
	p.mu.Unlock()
	return j
}

// takeLocked is getLocked's work; the caller holds mu.
func (p *Pool) takeLocked() *Job {
	if n := len(p.idle); n > 0 {
		j := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		j.countRun()
		return j
	}
	if p.max > 0 && len(p.all) >= p.max {
		// At the maximum, but the last job may have gone idle since get
		// looked: NoJobs only when no job is idle.
		if j := p.last.Load(); j != nil && j.takeForRun() {
			return j
		}
		return nil
	}
	j := p.create()
	j.countRun()
	return j
}

// create makes a job and adds it to all; the caller holds mu.
func (p *Pool) create() *Job {
	j := newJob(p)
	j.index = len(p.all)
	p.all = append(p.all, j)
	return j
}

// put returns a finished job, owned by the caller, to the pool, or
// discards it if the pool is closed.
//
// The finishing job becomes the pool's last job when it already is (one
// goroutine starting and finishing jobs: one atomic store), or when the
// last job is busy or gone; otherwise it joins the locked list. Becoming
// the last job races with that job going idle, so each side checks the
// other after its own atomic write: j, after publishing stateIdle, that it
// is still the last job; the replacer, after swapping last, that the job
// it replaced is not idle. Whichever sees the other's write moves the
// orphan to the list, and at least one does.
func (p *Pool) put(j *Job) {
	j.reset()
	var replaced *Job
	if last := p.last.Load(); last != j {
		if last != nil && last.state() == stateIdle || !p.last.CompareAndSwap(last, j) {
			p.putLocked(j)
			return
		}
		replaced = last
	}
	j.setState(stateIdle)
	if p.last.Load() != j || p.closed.Load() {
		p.rescue(j)
	}
	if replaced != nil {
		p.rescue(replaced)
	}
}

// rescue moves j to the locked list if it is idle, so that an idle job
// that is no longer the last one is not lost, and none outlives Close.
func (p *Pool) rescue(j *Job) {
	if j.take(stateIdle) {
		p.putLocked(j)
	}
}

func (p *Pool) putLocked(j *Job) {
	p.mu.Lock()
	if !p.closed.Load() {
		j.setState(stateListed)
		p.idle = append(p.idle, j)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.discard(j)
}

// discard removes j, owned by the caller, from the pool and ends its
// coroutine.
func (p *Pool) discard(j *Job) {
	p.mu.Lock()
	last := len(p.all) - 1
	p.all[j.index] = p.all[last]
	p.all[j.index].index = j.index
	p.all[last] = nil
	p.all = p.all[:last]
	p.retired += runs(j.word.Load())
	j.setState(stateDead)
	p.mu.Unlock()
	p.last.CompareAndSwap(j, nil) // not to keep it alive
	j.end()
}
