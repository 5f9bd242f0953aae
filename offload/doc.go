// Package offload is an async-aware "engine": it runs cryptographic
// operations on worker goroutines and, when called from inside an
// [async.Job], pauses the job while they run, so that the goroutine driving
// the jobs can do other work meanwhile. It is the Go counterpart of an
// OpenSSL engine backed by an accelerator, as described in
// ASYNC_WAIT_CTX_new(3), and it shows how async-aware code is meant to use
// an [async.WaitCtx].
//
// It builds and works on every OS with callbacks and polling; the wait fd
// is an eventfd, so NotifyFD needs Linux (elsewhere New refuses it, and
// NotifyAuto without a callback leaves the job to be polled).
//
// The engine keeps the contract of package engine, on which it is built
// and whose documentation says the rules every engine of this module
// follows (waking, spurious resumes, the bound, cancellation, the ctx,
// callbacks); package enginetest checks them (TestConformance). This
// documentation says how this engine applies them.
//
// # Two ways to call it
//
// Every operation ([Engine.SignECDSAP256], [Engine.SignEd25519],
// [Engine.SignRSA2048], [Engine.SHA256], [Engine.SealAESGCM], [Engine.Do])
// takes a context. Outside a job ([async.CurrentJob] returns nil for the
// context) the operation runs synchronously on the caller, as plain Go code
// would. Inside a job it is offloaded: the engine puts a request into a
// bounded ring that its workers serve, arranges for the application to be
// woken when the request completes, and calls [async.PauseJob]. The
// application's [async.Pool.StartJob] then returns [async.Pause]; once the
// job is resumed the engine collects the result and returns it. Either way
// the results are the same.
//
// # How the engine uses the WaitCtx
//
// The man page describes two ways for an engine to tell the application
// that a paused job can be resumed, and a status field. This engine uses
// them as follows, chosen by [Config.Notify]:
//
//   - Wait fd ([NotifyFD], and [NotifyAuto] when the WaitCtx has no
//     callback). Immediately before its first pause for a WaitCtx the engine
//     registers its eventfd with [async.WaitCtx.SetWaitFD] under a key
//     unique to the engine (the *Engine itself), with a cleanup that lets
//     go of it when the application calls [async.WaitCtx.Free]. The engine
//     has one eventfd, shared by all its WaitCtxs (as QAT_Engine's is), and
//     closed when the last of them is freed. The WaitCtx keeps it for
//     every later operation, as the man page encourages, so the
//     application sees it once in [async.WaitCtx.ChangedFDs] and can keep
//     it in its poll set. A worker makes the fd readable when an operation
//     completes; the application waits for that with poll, select or epoll
//     and resumes the jobs waiting on it (those whose operation is not
//     done pause again), and the resumed engine code takes back its wake
//     signal before returning. The fd is readable exactly while an
//     operation that completed has not returned, so an application may
//     keep polling it for the next operation; and since only the first
//     completion of a bunch writes it and only the last return reads it,
//     most operations cost no system call. (Package loop is told of its
//     own jobs' completions directly, and their operations leave the fd
//     alone: see its "Waiting".)
//
//   - Callback ([NotifyAuto] when the WaitCtx has a callback, set with
//     [async.WaitCtx.SetCallback]). The engine sets the status to
//     [async.StatusOK] before pausing, which tells the application that the
//     callback will be called; a worker calls it when the operation
//     completes, on the worker's goroutine, so it must be small and must not
//     block (typically it queues the job and wakes the event loop). No fd is
//     created. The callback may also resume the job itself, calling
//     [async.Pool.StartJob] (or CancelJob) from inside the callback: the
//     job then runs on the worker's goroutine, and takes its result
//     without waiting for the callback to return, which it cannot do until
//     the job pauses again or ends.
//
//   - Neither ([NotifyPoll]). The engine sets no fd and no callback status;
//     as the man page says, the application then polls: it resumes the job
//     from time to time, and the job pauses again until the operation is
//     done.
//
// When the ring is full the engine sets the status to
// [async.StatusEAGAIN] and pauses: the application should resume the job
// soon, without waiting for an fd or a callback, and the engine retries.
// (In fd mode it also makes its fd readable, so an application that only
// polls fds resumes the job too.) Once the request is accepted the status
// is set back: [async.StatusOK] in callback mode, [async.StatusUnsupported]
// otherwise.
//
// A job may be resumed before its operation has completed (a "spurious"
// resume); the engine then simply pauses again. An application's loop
// therefore looks like this, in fd mode:
//
//	st, _, err := pool.StartJob(ctx, &job, wctx, fn, nil)
//	for st == async.Pause {
//		if wctx.Status() != async.StatusEAGAIN {
//			// wait until one of wctx.AllFDs() is readable (poll, epoll)
//		}
//		st, _, err = pool.StartJob(ctx, &job, wctx, nil, nil)
//	}
//
// If pausing is blocked ([async.BlockPause]), PauseJob returns at once, so
// the operation waits for its result without pausing, yielding the
// processor meanwhile; in callback mode the callback is still called.
//
// See the package loop for an event loop that keeps many jobs in flight.
//
// # Cancellation and closing
//
// If [async.PauseJob] reports that the job was canceled
// ([async.Pool.CancelJob]) or its pool closed, the operation returns that
// error at once; if its ctx is done, when the job is next resumed, it
// returns an error wrapping ctx.Err() (a worker's completion wakes the job
// as usual; the engine sets no timer of its own). An operation called
// with a done ctx, in a job or not, returns that error and does nothing. The request it left behind may still be in the ring or
// running on a worker; its late completion is discarded: it does not make
// the wait fd readable, does not call the callback, and never touches a
// later operation's state. Inputs are copied into the request when an
// operation is offloaded, so the caller may reuse its buffers as soon as
// the call returns, canceled or not. (Do is the exception: its fn may still
// be running.)
//
// [Engine.Close] stops the workers and waits for them; requests still in the
// ring complete with [ErrClosed], and every later call returns ErrClosed.
//
// # When the application's code fails on a worker
//
// Two pieces of the application's code run on a worker: a func given to
// [Engine.Do], and a WaitCtx's callback. Neither can take the process or
// the engine down:
//
//   - A panic in Do's func is raised again in the job, where the
//     [async.Pool] reports it as an [*async.PanicError].
//   - runtime.Goexit in Do's func (testing.T.FailNow, a log.Fatal-style
//     helper) makes Do return a [*PanicError] whose Value is [ErrGoexit].
//   - A panic or runtime.Goexit in a callback is handled as package engine
//     says for every engine: the operation returns a *PanicError with
//     Callback set, or, if the job had taken its result already,
//     [Engine.Close] does.
//
// Goexit cannot be stopped: the worker it ends is replaced by a new one,
// so the engine keeps Config.Workers workers.
//
// # Limits
//
// [Config.Depth] is at most [MaxDepth], since the ring is allocated up
// front, and [Config.Workers] at most [MaxWorkers]; [New] refuses larger
// sizes with [ErrBadConfig].
//
// # Cost
//
// Requests are pooled, so an offloaded operation allocates nothing beyond
// what the cryptography itself allocates (a signature, say). The package's
// benchmarks measure the round trip of an empty [Engine.Do]: submit, pause,
// wake-up through the fd or the callback, resume.
//
// The ring takes no lock: a submit and a take are one compare-and-swap
// each. A worker that finds it empty yields and looks again for some 10µs
// before it parks, since waking a parked worker costs the submitter a trip
// through the scheduler and often a thread's wake-up; an idle engine so
// burns a little CPU each time its ring runs dry, then none. A worker that
// runs requests back to back yields every 20µs or so, so that the
// application's goroutine gets a processor even when every one is running
// a worker.
package offload
