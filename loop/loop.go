//go:build linux

package loop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/seed-e1024768/async"
	"golang.org/x/sys/unix"
)

// Mode says how the loop learns that a paused job can be resumed. It must
// agree with how the engine the jobs use notifies (see the package
// documentation).
type Mode int

const (
	// ModeFD waits, with epoll, for the wait fds the jobs' engines set in
	// their WaitCtx to become readable. Pair it with offload.NotifyFD.
	ModeFD Mode = iota
	// ModeCallback sets a callback on every WaitCtx and waits for engines
	// to call it (for jobs that paused with status StatusOK), and for wait
	// fds otherwise. Pair it with offload.NotifyAuto.
	ModeCallback
	// ModePoll never waits: it resumes every paused job in turn, round
	// after round. Pair it with offload.NotifyPoll.
	ModePoll
)

// String returns the constant's name, such as "ModeFD".
func (m Mode) String() string {
	switch m {
	case ModeFD:
		return "ModeFD"
	case ModeCallback:
		return "ModeCallback"
	case ModePoll:
		return "ModePoll"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Task is one unit of work for Run: a job that runs Fn(ctx, Args).
type Task struct {
	// Fn is the job's code; ctx is the context given to Run (or one
	// derived from it) and carries the job. A nil Fn is reported in the
	// task's Result as async.ErrNilFunc.
	//
	// The job's WaitCtx belongs to the loop, which reuses it for the
	// slot's later tasks: Fn must not free it or change its callback. One
	// that does anyway spoils only itself, if it does not pause after:
	// when its job ends the slot gets its callback back, or a new
	// WaitCtx. A job that pauses after freeing its WaitCtx may not be
	// resumed before Run's ctx is canceled.
	Fn async.Func
	// Args is copied into the job when it starts; until then (Run may hold
	// a task while the pool has no job free) the caller must not change it.
	Args []byte
	// Tag is the caller's, handed back unchanged in the task's Result.
	Tag any
}

// Result is what became of a Task. Run reports exactly one Result for each
// Task that next returned.
type Result struct {
	// Tag is the Task's Tag.
	Tag any
	// Ret is what the task's Fn returned (when the job was canceled, what
	// it returned while unwinding).
	Ret int
	// Err is nil when Fn returned normally. Otherwise it is the error
	// StartJob reported (a *async.PanicError when Fn panicked,
	// async.ErrNilFunc, async.ErrClosed when the pool was closed under the
	// loop, ...), or, for a task cut short by the cancellation of Run's
	// ctx, ctx.Err() or the error CancelJob reported.
	Err error
}

// Config configures Run. The zero Config is ModeFD, 16 jobs in flight, on
// a private pool.
type Config struct {
	// Pool runs the jobs. nil: Run makes a private pool of InFlight jobs
	// and closes it before it returns. A shared pool may limit the loop
	// below InFlight (see the package documentation on back-pressure); Run
	// leaves its idle jobs in it.
	Pool *async.Pool
	// InFlight is the most jobs Run keeps in flight at once (0:
	// DefaultInFlight; at most MaxInFlight).
	InFlight int
	// Mode says how Run waits for paused jobs.
	Mode Mode
}

const (
	// DefaultInFlight is the number of jobs in flight when
	// Config.InFlight is 0.
	DefaultInFlight = 16
	// MaxInFlight is the largest Config.InFlight Run accepts.
	MaxInFlight = 1 << 16
)

// ErrBadConfig is wrapped by the error Run returns for a bad argument: a
// negative or too large InFlight, an unknown Mode, a nil ctx, next or done.
var ErrBadConfig = errors.New("loop: bad configuration")

// Run keeps up to cfg.InFlight jobs in flight on the calling goroutine
// until there is no more work, waiting for paused jobs as cfg.Mode says.
//
// next is called for work whenever a job can be started; ok=false means
// there is no more, and Run returns once the jobs in flight have finished.
// next should not block for long: while it does, no job is resumed. done is
// called with each task's Result, once per task, as its job finishes. Both
// run on the calling goroutine, as do the jobs, never two at once.
//
// Run returns nil when all work is done. When ctx is canceled, it stops
// calling next, ends every paused job with CancelJob, reports a Result for
// each, frees everything it made and returns ctx.Err(). It returns an error
// wrapping ErrBadConfig for a bad argument, and one from the system when
// epoll or eventfd fails; in those cases too nothing is left behind, though
// paused jobs are then ended without a Result. A panic in next or done
// propagates after the same cleanup.
func Run(ctx context.Context, cfg Config, next func() (Task, bool), done func(Result)) error {
	if err := cfg.check(ctx, next, done); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l := &loop{ctx: ctx, mode: cfg.Mode, next: next, done: done}
	defer l.close()
	if err := l.init(cfg); err != nil {
		return err
	}
	return l.run()
}

func (c *Config) check(ctx context.Context, next func() (Task, bool), done func(Result)) error {
	switch {
	case ctx == nil:
		return fmt.Errorf("loop: nil context: %w", ErrBadConfig)
	case next == nil:
		return fmt.Errorf("loop: nil next function: %w", ErrBadConfig)
	case done == nil:
		return fmt.Errorf("loop: nil done function: %w", ErrBadConfig)
	case c.InFlight < 0 || c.InFlight > MaxInFlight:
		return fmt.Errorf("loop: InFlight %d out of range [0, %d]: %w", c.InFlight, MaxInFlight, ErrBadConfig)
	case c.Mode < ModeFD || c.Mode > ModePoll:
		return fmt.Errorf("loop: unknown %v: %w", c.Mode, ErrBadConfig)
	}
	return nil
}

// Slot states. A slot holds one job in flight, or none.
const (
	slotIdle    = iota // no job; its index is in loop.free
	slotWaiting        // job paused, waiting for an fd or a callback
	slotReady          // job paused, to be resumed this round; in loop.ready
)

type slot struct {
	idx    int32
	state  uint8
	resync bool // see syncFDs
	job    *async.Job
	wctx   *async.WaitCtx // the slot's own, for every job it runs (see mend)
	ref    *slotRef       // the argument of the slot's callback
	tag    any
	fds    []int // wait fds registered for the slot, as the WaitCtx lists them
}

// loop is Run's state; everything but n belongs to the calling goroutine.
type loop struct {
	ctx     context.Context
	pool    *async.Pool
	ownPool bool
	mode    Mode
	next    func() (Task, bool)
	done    func(Result)

	slots    []slot
	free     []int32 // idle slots, used last-in first-out
	ready    []int32 // slots to resume this round
	spare    []int32 // the other ready buffer
	inflight int     // slots not idle
	waiting  int     // slots in slotWaiting
	finished uint64  // jobs ended (reported), for progress checks

	pending    Task // got from next, not yet started (NoJobs)
	hasPending bool
	exhausted  bool // next returned ok=false
	starved    bool // the pool said NoJobs: start nothing until a job ends
	backoffMS  int  // sleep before retrying NoJobs with nothing in flight

	poller poller    // the epoll set: the loop's eventfd and the armed wait fds
	armed  int       // fds in the epoll set besides the loop's eventfd
	bells  []int     // watched fds (see fdEntry.bell)
	fdTab  []fdEntry // indexed by fd
	added  []int     // AppendChangedFDs buffers
	del    []int
	all    []int   // AppendAllFDs buffer
	cbBuf  []int32 // slots taken from n's queue
	rbuf   [8]byte // eventfd read buffer

	n         *notifier
	naps      int // ModePoll on a contended machine: naps left before it asks again
	stopAfter func() bool
	ivcsw     int64 // the process's involuntary context switches, as contended last saw them
}

// contended reports whether a thread of the process was preempted (an
// involuntary context switch) since the loop last asked: whether threads
// wait for a CPU, this process's or another's, so that CPU the loop spins
// on is CPU they wait for.
func (l *loop) contended() bool {
	if testHookContended != nil {
		return testHookContended()
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return true
	}
	c := ru.Nivcsw != l.ivcsw
	l.ivcsw = ru.Nivcsw
	return c
}

func (l *loop) init(cfg Config) error {
	size := cfg.InFlight
	if size == 0 {
		size = DefaultInFlight
	}
	l.pool = cfg.Pool
	if l.pool == nil {
		p, err := async.NewPool(size, 0)
		if err != nil {
			return err
		}
		l.pool, l.ownPool = p, true
	}
	var err error
	if l.n, err = newNotifier(size); err != nil {
		return err
	}
	if err := l.poller.open(min(size+1, 256)); err != nil {
		return err
	}
	if err := l.poller.add(l.n.efd); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	l.slots = make([]slot, size)
	l.free = make([]int32, size)
	l.ready = make([]int32, 0, size)
	l.spare = make([]int32, 0, size)
	l.cbBuf = make([]int32, 0, size)
	for i := range l.slots {
		s := &l.slots[i]
		s.idx = int32(i)
		s.ref = &slotRef{n: l.n, idx: s.idx}
		l.newWaitCtx(s)
		l.free[size-1-i] = s.idx // slot 0 is used first
	}
	if ctx := l.ctx; ctx.Done() != nil {
		l.stopAfter = context.AfterFunc(ctx, l.n.cancel)
	}
	return nil
}

// close frees everything Run made; it is safe on a partly made loop and
// after a panic in next or done.
func (l *loop) close() {
	if l.stopAfter != nil {
		l.stopAfter()
	}
	for i := range l.slots {
		if s := &l.slots[i]; s.job != nil {
			l.pool.CancelJob(&s.job)
			s.job = nil
		}
	}
	for len(l.bells) > 0 {
		l.unwatch(l.bells[len(l.bells)-1])
	}
	for i := range l.slots {
		l.slots[i].wctx.Free() // engines' cleanups close their fds
	}
	l.poller.close()
	if l.n != nil {
		l.n.close()
	}
	if l.ownPool {
		l.pool.Close()
	}
}

// testHookNoJobs, when set by a test, is called each time the pool reports
// NoJobs to the loop.
var testHookNoJobs func()

// testHookSpin, when set by a test, is called at each round of spinWait;
// testHookYield each time a round of polling gives the thread's CPU away
// (a yield or a nap).
var testHookSpin, testHookYield func()

// testHookContended, when set by a test, answers contended.
var testHookContended func() bool

// testHookBusy, when set by a test, says whether a yield of a fruitless
// round of polling took long enough to nap (see busyYield).
var testHookBusy func() bool

func (l *loop) run() error {
	for {
		if l.n.canceled.Load() {
			return l.cancel()
		}
		l.fill()
		if l.inflight == 0 {
			switch {
			case l.hasPending && l.starved:
				// The pool is exhausted by jobs that are not ours, so no
				// Finish of ours will say when to retry: sleep a little.
				l.backoffMS = min(max(2*l.backoffMS, 1), 64)
				if err := l.wait(l.backoffMS); err != nil {
					return err
				}
				l.starved = false
			case l.exhausted && !l.hasPending:
				return nil
			}
			continue
		}
		// Every slot in flight is waiting or ready. Sleep only when none
		// is ready; poll for events without sleeping when some are.
		if len(l.ready) == 0 {
			if err := l.spinWait(); err != nil {
				return err
			}
		} else if l.waiting > 0 {
			if err := l.collect(); err != nil {
				return err
			}
		}
		l.runReady()
	}
}

// fill starts tasks in idle slots: at most one round's worth, so that a
// stream of tasks that finish without pausing cannot shut out
// cancellation.
func (l *loop) fill() {
	for range len(l.slots) {
		if len(l.free) == 0 || l.starved || l.n.canceled.Load() {
			return
		}
		t := l.pending
		if l.hasPending {
			l.pending, l.hasPending = Task{}, false
		} else {
			if l.exhausted {
				return
			}
			var ok bool
			if t, ok = l.next(); !ok {
				l.exhausted = true
				return
			}
		}
		l.start(t)
	}
}

// start starts t's job in the most recently freed slot.
func (l *loop) start(t Task) {
	s := &l.slots[l.free[len(l.free)-1]]
	if l.mode != ModePoll {
		s.wctx.SetStatus(async.StatusUnsupported)
	}
	st, ret, err := l.pool.StartJob(l.ctx, &s.job, s.wctx, t.Fn, t.Args)
	switch st {
	case async.NoJobs:
		l.pending, l.hasPending, l.starved = t, true, true
		if testHookNoJobs != nil {
			testHookNoJobs()
		}
		return
	case async.Pause:
		l.free = l.free[:len(l.free)-1]
		l.inflight++
		l.backoffMS = 0
		s.tag = t.Tag
		l.park(s)
		return
	}
	// Finished (or failed) at once; the slot stays free.
	l.backoffMS = 0
	if s.job != nil { // cannot happen: a new job that did not pause
		l.pool.CancelJob(&s.job)
		s.job = nil
	}
	if l.mode != ModePoll {
		l.syncFDs(s, true)
	}
	l.mend(s)
	l.finished++
	l.done(Result{Tag: t.Tag, Ret: ret, Err: err})
}

// newWaitCtx gives the slot a new WaitCtx, with the slot's callback in
// ModeCallback.
func (l *loop) newWaitCtx(s *slot) {
	s.wctx = async.NewWaitCtx()
	if l.mode == ModeCallback {
		s.wctx.SetCallback(notifySlot, s.ref) // fails only once freed
	}
}

// mend readies the slot of a job that has ended for the next: a Task
// that freed its WaitCtx, or replaced its callback, must not leave every
// later task in the slot failing at once with ErrFreed, or waiting for a
// callback that never comes. In the usual case it costs two atomic loads
// and a store, and no system call.
func (l *loop) mend(s *slot) {
	if s.wctx.SetStatus(async.StatusUnsupported) == nil {
		if l.mode != ModeCallback {
			return
		}
		if _, arg, ok := s.wctx.Callback(); ok && arg == any(s.ref) {
			return
		}
		if s.wctx.SetCallback(notifySlot, s.ref) == nil {
			return
		}
	}
	// Freed: its cleanups have run, and closed the engines' fds. Forget
	// them now, before another slot's engine reuses one of their numbers.
	for len(s.fds) > 0 {
		l.unregister(s, s.fds[len(s.fds)-1])
	}
	s.resync = false
	l.newWaitCtx(s)
}

// runReady resumes the slots that are ready, in the order they became so.
// Slots that pause again to be polled go to the next round. A slot whose
// job finished takes its next task at once: the pool then hands the new
// task the job that just finished, without a lock, where starting them
// all after the round would take most from the pool's locked list.
func (l *loop) runReady() {
	cur := l.ready
	l.ready = l.spare[:0]
	before := l.finished
	for _, i := range cur {
		s := &l.slots[i]
		l.resume(s)
		if s.state == slotIdle {
			l.fill()
		}
	}
	l.spare = cur[:0]
	if len(cur) > 0 && l.finished == before {
		// A round of polling got nowhere: let the goroutines the jobs
		// wait for (an engine's workers) run before the next.
		if l.naps > 0 {
			l.naps--
			l.nap()
			return
		}
		t := time.Now()
		runtime.Gosched()
		if time.Since(t) < idleYield && l.contended() {
			// None of them wanted this P: they wait for the kernel
			// (the network, a timer) or for a CPU, and other threads
			// want this one's. Give its CPU away for a moment rather
			// than spin on it. If that takes long, other work keeps
			// the CPUs busy: nap for the next napStreak fruitless
			// rounds instead (see nap).
			if testHookYield != nil {
				testHookYield()
			}
			t = time.Now()
			unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			busy := time.Since(t) > busyYield
			if testHookBusy != nil {
				busy = testHookBusy()
			}
			if busy {
				l.naps = napStreak
			}
		}
	}
}

func (l *loop) resume(s *slot) {
	if l.mode != ModePoll {
		s.wctx.SetStatus(async.StatusUnsupported)
	}
	st, ret, err := l.pool.StartJob(l.ctx, &s.job, nil, nil, nil)
	if st == async.Pause {
		l.park(s)
		return
	}
	switch {
	case s.job == nil:
	case errors.Is(err, async.ErrClosed):
		// The pool was closed under the loop, and Close ends the job.
		s.job = nil
	default:
		// The pool refused to resume the job and left it paused. That
		// cannot happen to a job only this loop resumes; end it rather
		// than leak it.
		r, cerr := l.pool.CancelJob(&s.job)
		ret, err = r, errors.Join(err, cerr)
		s.job = nil
	}
	if l.mode != ModePoll {
		l.syncFDs(s, true)
	}
	l.mend(s)
	tag := s.tag
	l.release(s)
	l.done(Result{Tag: tag, Ret: ret, Err: err})
}

// park files the slot whose job just paused: waiting for an fd or a
// callback, or ready to be polled next round.
func (l *loop) park(s *slot) {
	if l.mode != ModePoll {
		l.syncFDs(s, false)
		if st := s.wctx.Status(); st != async.StatusEAGAIN {
			cb := l.mode == ModeCallback && st == async.StatusOK
			if (cb || len(s.fds) > 0) && l.arm(s) {
				s.state = slotWaiting
				l.waiting++
				return
			}
		}
	}
	s.state = slotReady
	l.ready = append(l.ready, s.idx)
}

// wake makes a waiting slot ready.
func (l *loop) wake(s *slot) {
	if s.state == slotWaiting {
		s.state = slotReady
		l.waiting--
		l.ready = append(l.ready, s.idx)
	}
}

// release returns the slot of an ended job to the idle list.
func (l *loop) release(s *slot) {
	if s.state == slotWaiting {
		l.waiting--
	}
	s.state = slotIdle
	s.tag = nil
	l.inflight--
	l.finished++
	l.free = append(l.free, s.idx)
	l.starved = false
}

// cancel ends every paused job because ctx was canceled, reporting each.
func (l *loop) cancel() error {
	why := l.ctx.Err()
	for i := range l.slots {
		s := &l.slots[i]
		if s.job == nil {
			continue
		}
		ret, err := l.pool.CancelJob(&s.job)
		if err == nil {
			err = why
		}
		s.job = nil
		tag := s.tag
		l.release(s)
		l.done(Result{Tag: tag, Ret: ret, Err: err})
	}
	if l.hasPending {
		t := l.pending
		l.pending, l.hasPending = Task{}, false
		l.done(Result{Tag: t.Tag, Err: why})
	}
	return why
}

// spinWait waits for events when no job is ready. It first yields and
// polls, staying runnable: the runtime looks at its netpoller only when a
// P runs out of work (or every 10ms), so a loop parked there while the
// engine's workers keep every P busy would not be woken until they had
// drained all its work. It stops as soon as a yield finds no other
// goroutine to run, since spinning then only takes CPU from what the
// operation waits for, and parks.
func (l *loop) spinWait() error {
	// Callbacks that came while the loop was busy need no yield to see.
	if l.n.pending.Load() > 0 {
		if l.takeNotes(); len(l.ready) > 0 {
			return nil
		}
	}
	for range spinRounds {
		if testHookSpin != nil {
			testHookSpin()
		}
		t := time.Now()
		runtime.Gosched()
		if time.Since(t) < idleYield {
			// Nothing else wanted this P: parked, the loop costs no
			// CPU, and the P, with nothing to run, looks at the
			// netpoller itself. (Parking looks at the fds first.)
			break
		}
		if err := l.collect(); err != nil {
			return err
		}
		// A wake-up for cancellation readies no slot: return for run to
		// see it.
		if len(l.ready) > 0 || l.n.canceled.Load() {
			return nil
		}
	}
	return l.wait(-1)
}

// collect makes ready the slots whose callbacks or fds have fired, without
// waiting. Callbacks and watched fds are seen without a system call; other
// fds need epoll, and only while some are armed (the loop's own eventfd is
// written only while it sleeps).
func (l *loop) collect() error {
	if l.n.pending.Load() > 0 {
		l.takeNotes()
	}
	if len(l.bells) > 0 {
		l.ringBells()
	}
	if l.armed > 0 {
		return l.wait(0)
	}
	return nil
}

// spinRounds is how many times spinWait yields and polls before it parks:
// on this project's 2-core reference machine, enough to cover an engine's
// sub-millisecond operations (ECDSA, SHA-256 of 16 KiB) without parking,
// at the price of some 100µs of polling before the loop sleeps on slow
// ones. asyncspeed shows the difference.
const spinRounds = 128

// idleYield is how short a yield is when no other goroutine ran in it.
const idleYield = time.Microsecond

// wait waits up to timeout milliseconds (-1: no limit) for events and
// makes the slots they concern ready. It takes the events ready now and,
// when there are none, parks (see poller) after telling the notifier, so
// that a callback wakes it.
func (l *loop) wait(timeout int) error {
	if l.armed == 0 && timeout < 0 {
		// Only callbacks and watched fds can wake the loop: sleep on a
		// channel, which they ready at once, where the netpoller would
		// need a P with nothing to do to look at the eventfd. A watched
		// fd may have been signaled before the loop said it sleeps:
		// look, after saying so.
		if !l.n.sleep(onChan) {
			l.takeNotes()
			l.ringBells()
			return nil
		}
		if l.ringBells() {
			l.n.unsleep()
			return nil
		}
		<-l.n.kick
		l.n.awake()
		l.takeNotes()
		l.ringBells()
		return nil
	}
	var (
		evs []unix.EpollEvent
		err error
	)
	if timeout == 0 {
		evs, err = l.poller.poll()
	} else {
		if !l.n.sleep(onEpoll) {
			l.takeNotes() // a callback came, or ctx is done: no sleep
			l.ringBells()
			return nil
		}
		defer l.n.awake()
		if l.ringBells() {
			return nil
		}
		// park looks for events before it waits for them.
		evs, err = l.poller.park(timeout)
	}
	if err != nil {
		return err
	}
	l.dispatch(evs)
	if timeout != 0 && len(l.bells) > 0 {
		l.ringBells()
	}
	return nil
}

// dispatch acts on the events of the epoll set: the loop's eventfd and
// wait fds.
func (l *loop) dispatch(evs []unix.EpollEvent) {
	for _, ev := range evs {
		switch fd := int(ev.Fd); {
		case fd == l.n.efd:
			l.drainNotes()
		default:
			l.fdReady(fd)
		}
	}
}

// drainNotes takes the wake-up from the loop's eventfd, then the slots
// whose callbacks were called.
func (l *loop) drainNotes() {
	// Read before taking the queue: a callback that queues after the
	// read writes the eventfd again (the queue is empty), so none is lost.
	unix.Read(l.n.efd, l.rbuf[:])
	l.takeNotes()
}

// takeNotes makes ready the slots whose callbacks were called.
func (l *loop) takeNotes() {
	l.cbBuf = l.n.take(l.cbBuf[:0])
	for _, i := range l.cbBuf {
		l.wake(&l.slots[i])
	}
}
