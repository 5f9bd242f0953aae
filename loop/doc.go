//go:build linux

// Package loop runs many async jobs at once from one goroutine: it is the
// event loop an OpenSSL application writes around ASYNC_start_job, built
// for this module's async package.
//
// This package is Linux-only (eventfd, epoll).
//
// # What an event loop for async jobs does
//
// An async job runs code that may pause: an engine (async-aware code such as
// a hardware accelerator's driver, or package offload) submits an operation,
// arranges to be told when it completes, and calls async.PauseJob. StartJob
// then returns Pause to the application, which is free to start or resume
// other jobs, and must resume the paused one once the operation is done.
// The application learns "done" in one of three ways, chosen by the engine
// through the job's WaitCtx (see async.WaitCtx and ASYNC_WAIT_CTX_new(3)):
//
//   - a wait fd: the engine sets a file descriptor with SetWaitFD and makes
//     it readable on completion; the application polls its fds (here with
//     epoll) and resumes the job whose fd is readable.
//   - a callback: the application sets a callback with SetCallback; an
//     engine that supports it sets the status StatusOK before pausing and
//     calls the callback, from its own goroutine, on completion.
//   - nothing: the application resumes the job now and then to let it check
//     ("polling"). An engine that cannot take a request now (a full queue)
//     sets StatusEAGAIN, which asks for exactly that.
//
// Run does all of this for a stream of Tasks. It keeps up to
// Config.InFlight jobs in flight, each with a WaitCtx of its own (a "slot";
// the WaitCtx is reused by the slot's next job, so an engine that keeps one
// fd per WaitCtx, as the man page recommends, costs no system call to
// register after the first job). It runs every job on the calling
// goroutine: Task functions, and the next and done functions given to Run,
// never run concurrently with each other.
//
// # Modes
//
// Config.Mode says how the loop learns that a paused job can go on, and
// must agree with how the engine notifies:
//
//   - ModeFD: after each Pause or Finish the loop applies the WaitCtx's
//     ChangedFDs to its epoll set, and waits until a job's fd is readable.
//     Pair it with offload.NotifyFD. (The wait fds of this module's own
//     engines it watches instead of epoll: see Waiting.)
//   - ModeCallback: the loop sets a callback on every slot's WaitCtx. A job
//     that paused with status StatusOK waits for its callback (or one of its
//     fds, if it has any); the callback queues the slot and, when the loop
//     sleeps, wakes it through one eventfd (an awake loop finds the queue
//     without a system call). Pair it with offload.NotifyAuto.
//   - ModePoll: the loop ignores fds and sets no callback; it resumes every
//     paused job in turn, round after round. It needs no system calls, but
//     keeps a CPU busy while jobs wait. Pair it with offload.NotifyPoll.
//
// In ModeFD and ModeCallback a job that paused with status StatusEAGAIN, or
// with nothing to wait for (no fd, and no StatusOK in ModeCallback), is
// polled: resumed on the next round, without sleeping meanwhile. Before it
// starts or resumes a job the loop sets the WaitCtx's status back to
// StatusUnsupported, so that the status it reads after a Pause is what that
// run of the job reported: an engine sets StatusOK (or StatusEAGAIN) before
// every PauseJob it wants the loop to act on.
//
// Each job's Func gets Run's ctx (wrapped to carry the job), so engines can
// see the cancellation of Run too.
//
// Jobs must tolerate spurious resumes (a stale callback, an fd shared with
// another job): an engine that is resumed before its operation is done
// pauses again, as async-aware code must anyway.
//
// # Waiting
//
// The loop never blocks its thread in epoll_wait: it asks with timeout 0,
// and parks its goroutine on the epoll fd through Go's netpoller. A thread
// blocked in a system call keeps its P for a while, and on a small machine
// that starves the engine's goroutines, whose completions the loop waits
// for. When no fd is armed (every paused job waits for a callback), it
// parks on a channel instead, which a callback readies directly: no
// system call, and no need for a P to look at the netpoller.
//
// The wait fds of this module's engines (package offload and remote, and
// any engine built on package engine) are not put in the epoll set at
// all: the loop watches them. The engine's goroutine that completes an
// operation of one of the loop's jobs queues that job's slot and readies
// the loop, exactly as a callback does, so the loop resumes that job
// alone, not every job that waits on the shared fd. The loop,
// parked on a channel, learns of it without the kernel: a machine whose
// CPUs are busy with other work delays a parked loop's wake-up as it
// delays a blocked goroutine's, not by the time a thread blocked in epoll
// takes to be scheduled. Since nothing polls the fd for the loop's jobs,
// their operations neither write nor read it; the operations of other
// applications that share the engine (and so the fd) still make it
// readable, so the man page's contract holds for them. A job's own fds,
// and any other engine's, are polled with epoll as described.
//
// The runtime looks at its netpoller only when a P runs out of work, or
// every 10ms, so a loop parked there while the engine keeps every P busy
// would sleep until the engine had drained all its work. So before it
// parks, the loop yields and polls, staying runnable while completions are
// near, for up to spinRounds yields (some 100µs) as long as each yield
// lets another goroutine run. A yield that returns at once says that no
// goroutine wanted the P: then spinning would only take CPU from what the
// operation waits for (the engine's threads waiting for a CPU on a busy
// machine, a network, another process), and the loop parks at once; its
// P, with nothing to run, looks at the netpoller itself. A loop in
// ModePoll has nothing to park on: after a fruitless round whose yield
// returned at once, and while the process's threads are being preempted
// (getrusage counts their involuntary context switches: other threads
// wait for a CPU), it gives its thread's CPU away (sched_yield) instead.
// If that takes long (other work's time slices ran meanwhile: the machine
// is busy), it naps for its next fruitless rounds: it sleeps for 20µs on
// a timer of the runtime's own, holding neither a CPU nor a P, rather than
// spin on CPU that what the jobs wait for needs; the nap ends at the next
// switch between the goroutines the jobs wait for, with no system call.
//
// # Back-pressure and cancellation
//
// When the pool is at its maximum (StartJob reports NoJobs), the loop keeps
// the task it got from next and starts no more until one of its jobs
// finishes; with a shared pool and none of its own jobs in flight it retries
// after a short, growing sleep. It never spins on NoJobs.
//
// When ctx is canceled, Run stops taking work, cancels every paused job with
// CancelJob (each such task gets a Result whose Err is ctx.Err(), or the
// error CancelJob reported), frees every WaitCtx (whose cleanups close the
// engines' fds), closes its epoll and eventfd descriptors and returns
// ctx.Err(). Nothing is left behind: no goroutine, descriptor or paused job.
//
// # Cost
//
// After the first InFlight tasks, running a task allocates nothing in the
// loop, and the loop adds no system call of its own beyond epoll_wait while
// it has jobs waiting on fds other than this module's engines', and a read
// of its eventfd when callbacks arrived while it slept (see the
// benchmarks). A job waiting on a watched fd costs no system call at all. A slot whose job finishes
// takes its next task at once, so the pool hands it the job that just
// finished. Task.Tag is handed back as given, so a caller that wants
// no allocation either passes a pointer or a small value.
package loop
