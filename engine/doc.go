// Package engine is the engine side of the contract between an
// async-aware engine and the application that runs its jobs, written once:
// how a paused job is woken, who owns a request at each moment, what a
// job resumed too early, an engine at its bound, a canceled job, a closed
// pool, a done ctx and a failing callback each lead to. The engines of
// packages offload (worker goroutines) and remote (gRPC streams) are built
// on it and differ only in their transport; package enginetest checks an
// engine against the contract.
//
// The package is public so that a third engine (a KMS, an HSM over
// PKCS #11, an accelerator) need not copy this code, and the subtle parts
// of it (the ownership of a request, callbacks that resume their own job,
// runtime.Goexit) are right once for every engine.
//
// # Using it
//
// An engine makes one [Waker] ([New]) from a [Config]. Its request type
// embeds a [Handoff] and implements [Request]: Submit hands the request to
// the transport, or reports that the engine is at its bound; Release puts
// the request back in the engine's pool. An operation called from inside
// a job fills a request and calls [Waker.Await]; when that returns nil it
// reads the results and calls [Free]. The transport, once the results are
// in, calls [Waker.Complete]. A caller outside a job, if the engine cannot
// simply do the work on the caller, uses [Handoff.Block] and [Waker.Wait].
// The engine's Close returns [Waker.Lost].
//
// # The contract
//
// These are the rules both engines keep, and enginetest checks.
//
// Waking. [Config.Notify] chooses, as ASYNC_WAIT_CTX_new(3) describes:
//
//   - NotifyFD (and NotifyAuto when the WaitCtx has no callback): the
//     engine has one wait fd, an eventfd shared by all its WaitCtxs, as
//     QAT_Engine's is. A WaitCtx lists it under the engine's key from the
//     first time a job with that WaitCtx pauses, for every later operation
//     (so that the application adds it to its poll set once, learning of
//     it from ChangedFDs); it is closed when the last WaitCtx that lists
//     it is freed. The engine makes it readable when an operation
//     completes; each resumed job drains its own completion before the
//     operation returns, so the fd is readable exactly while a completed
//     operation has not returned, and never once they all have. Since the
//     fd is shared, its being readable says that some job of the engine
//     can go on: the others, resumed too, pause again (a spurious resume),
//     and a completion costs a system call only when none was pending.
//     The job pauses with async.StatusUnsupported. (Package loop watches
//     the fd instead of polling it, and is told of its own jobs'
//     completions without it: those neither write nor read the fd. See
//     its "Waiting".)
//   - NotifyAuto with a callback on the WaitCtx: the job pauses with
//     async.StatusOK, and the engine calls the callback, on a goroutine of
//     its own, when the operation completes. No fd is made.
//   - NotifyPoll: no fd, no callback, and async.StatusUnsupported; the
//     application resumes the job from time to time.
//
// Wait fds are eventfds, so only Linux has them: elsewhere NotifyFD is
// refused ([ErrNoWaitFD]) and NotifyAuto without a callback leaves the job
// to be polled.
//
// Spurious resumes. A job resumed before its results came pauses again,
// setting its status again first (the application may have reset it).
//
// The bound. When the engine cannot take a request now, the job pauses
// with async.StatusEAGAIN, with its wait fd readable (if it has one) but
// no callback called: the application should resume it soon, and the
// engine tries again then.
//
// Cancellation. If PauseJob reports that the job was canceled or its pool
// closed, the operation returns that error at once. The request goes to
// the engine, whose late completion wakes no one and never touches a later
// operation.
//
// The ctx. An operation whose ctx is done when it is called returns an
// error wrapping ctx.Err() and submits nothing. One whose ctx is done
// while its job is paused returns such an error when the job is next
// resumed, unless its results came first. An engine whose operations can
// outlast a deadline (anything remote) also ends the request and wakes the
// job itself when its ctx is done, with an error that wraps ctx's and
// says more ([Config.EndsDone]); one whose work always completes soon
// (offload's) wakes the job when it completes.
//
// Callbacks. A WaitCtx's callback is the application's code, run on the
// engine's goroutine after the results are in. It must be small and not
// block; it may resume (or cancel) the job itself, which then runs on the
// engine's goroutine and takes its results without waiting for the
// callback to return. If it panics, the panic is recovered; if it calls
// runtime.Goexit, the engine's goroutine ends and the engine replaces it.
// Either way the failure is a [*PanicError] with Callback set: the
// operation returns it (joined with the cancellation, if the job was
// canceled meanwhile), and the job is not woken, since its callback
// failed; the application finds out when it resumes the job some other
// way. A callback that fails after its job has taken its results has no
// operation to report to: the engine's Close returns the first such
// failure. Code the application gives an engine to run (offload's Do
// func) that calls runtime.Goexit fails its operation with a *PanicError
// whose Value is [ErrGoexit].
//
// Nothing left behind. A request is released exactly once (see
// [Handoff]); the engine's Close stops every goroutine it started; the
// wait fds belong to the WaitCtxs, which close them when freed.
//
// # Cost
//
// Nothing here allocates on an operation's path: the Waker is made once,
// requests are the engine's (pooled), and the interface a request is
// passed as holds a pointer.
package engine
