// Package async is OpenSSL's asynchronous job API (ASYNC_start_job(3) and
// ASYNC_WAIT_CTX_new(3)) in Go: jobs that run until they pause, are held in
// a pool and reused, and are resumed later by the code that started them;
// and the wait contexts through which async-aware code (an "engine", such
// as a crypto accelerator) tells the application when a paused job is
// ready again.
//
// # The model
//
// A job runs a [Func]. When the Func, or anything it calls with its ctx,
// reaches a point where it would wait (an engine has submitted work to
// hardware, say), it calls [PauseJob]. Control goes straight back to the
// [Pool.StartJob] call that started the job, which returns [Pause] and a
// handle. The application does other work, perhaps starting more jobs,
// and calls StartJob again with the handle when the job can go on; the
// job continues from its PauseJob call as if that call had just returned.
// When the Func returns, StartJob returns [Finish] with the Func's result.
//
// Each job runs on a coroutine of its own (the Go runtime's, through
// [iter.Pull]), so switching between the application and a job costs
// about as much as a function call that misses the branch predictor a
// few times: no goroutine is scheduled and nothing is allocated. Making a
// job is dearer, so a [Pool] keeps finished jobs and reuses them.
//
// A [WaitCtx] travels with a job. The engine that paused the job registers
// a wait file descriptor on it with [WaitCtx.SetWaitFD] and makes the fd
// readable when the job can continue; the application waits for that with
// poll or epoll, learning which fds to watch from [WaitCtx.AllFDs] or, in
// an event loop, [WaitCtx.ChangedFDs]. Or the application sets a callback
// with [WaitCtx.SetCallback], and an engine that supports it sets
// [StatusOK] and calls the callback on completion instead.
//
//	var pool async.Pool          // the implicit pool: no limit, nothing made up front
//	defer pool.Close()
//	w := async.NewWaitCtx()
//	defer w.Free()
//	var job *async.Job
//	for {
//		st, ret, err := pool.StartJob(ctx, &job, w, fn, args)
//		switch st {
//		case async.Pause:
//			waitFor(w.AllFDs())  // poll(2) until one is readable
//			continue
//		case async.Finish:
//			use(ret)
//		case async.NoJobs:
//			// the pool is at its maximum: retry once a job has finished
//		case async.Err:
//			log.Print(err)
//		}
//		break
//	}
//
// # From C to Go
//
//	C                                    Go
//	ASYNC_init_thread(max, init)         NewPool(max, init), or the zero Pool
//	ASYNC_cleanup_thread()               Pool.Close
//	ASYNC_start_job(&job, ctx, &ret, ..) Pool.StartJob(ctx, &job, wctx, fn, args)
//	ASYNC_pause_job()                    PauseJob(ctx)
//	ASYNC_get_current_job()              CurrentJob(ctx)
//	ASYNC_get_wait_ctx(job)              Job.WaitCtx
//	ASYNC_block_pause()                  BlockPause(ctx)
//	ASYNC_unblock_pause()                UnblockPause(ctx)
//	ASYNC_is_capable()                   IsCapable
//	ASYNC_stack_alloc_fn                 StackAllocFunc
//	ASYNC_stack_free_fn                  StackFreeFunc
//	ASYNC_set_mem_functions()            SetMemFunctions (always false)
//	ASYNC_get_mem_functions()            GetMemFunctions (always nil, nil)
//	ASYNC_ERR, _NO_JOBS, _PAUSE, _FINISH Err, NoJobs, Pause, Finish
//	ASYNC_WAIT_CTX_new()                 NewWaitCtx, or the zero WaitCtx
//	ASYNC_WAIT_CTX_free()                WaitCtx.Free
//	ASYNC_WAIT_CTX_set_wait_fd()         WaitCtx.SetWaitFD
//	ASYNC_WAIT_CTX_get_fd()              WaitCtx.FD
//	ASYNC_WAIT_CTX_get_all_fds()         WaitCtx.AllFDs, WaitCtx.AppendAllFDs
//	ASYNC_WAIT_CTX_get_changed_fds()     WaitCtx.ChangedFDs, WaitCtx.AppendChangedFDs
//	ASYNC_WAIT_CTX_clear_fd()            WaitCtx.ClearFD
//	ASYNC_WAIT_CTX_set_callback()        WaitCtx.SetCallback
//	ASYNC_WAIT_CTX_get_callback()        WaitCtx.Callback
//	ASYNC_WAIT_CTX_set_status()          WaitCtx.SetStatus
//	ASYNC_WAIT_CTX_get_status()          WaitCtx.Status
//	ASYNC_callback_fn                    CallbackFunc
//	ASYNC_STATUS_UNSUPPORTED, _ERR,      StatusUnsupported, StatusErr,
//	  _OK, _EAGAIN                         StatusOK, StatusEAGAIN
//	the cleanup given to set_wait_fd     CleanupFunc
//	OpenSSL's error queue                the error StartJob returns with Err
//	(none)                               Pool.CancelJob, Pool.Stats
//
// # Where Go differs from C, on purpose
//
//   - "Thread" becomes Pool. A Pool may be shared by many goroutines, or one
//     made per goroutine as OpenSSL does per thread. A paused job may be
//     resumed from any goroutine, through the pool that started it, but
//     never by two at once: the second gets [ErrRunning].
//   - The current job travels in ctx, the Go way, instead of in
//     thread-local state. CurrentJob, PauseJob, BlockPause and UnblockPause
//     take the ctx the Func received, or one derived from it.
//   - The blocked-pause count belongs to the job run, not to the thread, so
//     an unbalanced BlockPause cannot leak into later jobs.
//   - Jobs nest: a Func may start jobs of its own, on any pool; pausing the
//     inner job returns to the outer job's code.
//   - A paused job can be canceled ([Pool.CancelJob]), and a pool closed
//     with jobs outstanding, without leaking them: the job is resumed with
//     PauseJob returning [ErrCanceled] or [ErrClosed] so that it unwinds.
//   - A panic or runtime.Goexit in a Func does not take the application
//     down: StartJob (or CancelJob, or Close) returns Err with a
//     [*PanicError] and the job is discarded. A panic while a Goexit
//     unwinds the Func is reported as that panic; the Goexit ends the job
//     all the same.
//   - NewPool(0, n) is allowed: 0 means no maximum, so any initSize fits
//     (up to [MaxInitSize], the most made up front). A huge maxSize is
//     fine: it bounds what the pool makes as it is used.
//   - Wait fd keys are any comparable value, not only pointers, and setting
//     a second fd under a key that has one is refused ([ErrKeyExists]).
//   - Jobs run on goroutine stacks, which the Go runtime grows as needed:
//     there is no fixed 32 KiB stack to overflow, and no stack allocator to
//     replace, so [SetMemFunctions] reports false.
//
// # What the runtime cannot survive
//
// A job's Func runs on its own goroutine, switched to and from by the
// runtime's coroutine machinery, which insists that a coroutine and the
// goroutine switching to it agree on being locked to an OS thread. Where
// they do not, the runtime stops the whole process with "fatal error:
// coro: OS thread locking must match locking at coroutine creation"; no
// error can be returned, because nothing in Go can ask whether a goroutine
// is locked. So these are forbidden:
//
//   - Calling runtime.LockOSThread in a Func and then pausing.
//   - Calling StartJob, CancelJob or Close from a goroutine locked to its
//     thread (runtime.LockOSThread, or the main goroutine of a program
//     that locks it in init) when the pool's jobs were made by an unlocked
//     one, or the other way round. A pool used only from one locked
//     goroutine works.
//   - Pausing inside a cgo callback (C calling back into Go, then Go
//     calling PauseJob), and starting or resuming jobs from one: a cgo
//     callback runs locked to its thread.
//   - Handing a job's ctx to another goroutine and calling CurrentJob,
//     PauseJob, BlockPause or UnblockPause there. Those belong to the
//     goroutine running the Func; the race detector reports such calls.
//     Other goroutines may use the ctx as a context (Done, Err, Value, a
//     parent to derive from), during the run and after it: it stays a
//     context of the parent given to StartJob for good, even when the
//     pool has reused the job.
//   - Keeping args after the Func returns: the pool wipes the buffer then,
//     and reuses it.
//   - Keeping a copy of a job handle past the job's end. A handle is valid
//     only while its job is paused. After StartJob reports Finish (or Err
//     with a [*PanicError]), or CancelJob returns, the Job goes back to its
//     pool and may run the next job started there: a copy kept and passed
//     to StartJob or CancelJob then resumes or cancels that other job, just
//     as a stale ASYNC_JOB pointer does in C. StartJob and CancelJob clear
//     the *job they are given, so a program that keeps the handle only
//     there is safe.
//
// # Leaks
//
// Every job in a pool parks a goroutine (about 3 KB, mostly stack). An
// idle job references nothing of its last run but the ctx it was started
// with (kept so that the next run with the same ctx stores nothing): not
// its Func or WaitCtx, and not its args, which it wipes (they are often
// secrets) and, if larger than 1 KiB, lets go. A
// paused job keeps its goroutine and everything its stack refers to until
// it is resumed to the end, canceled, or its pool closed. [Pool.Close]
// ends them all; a Pool dropped without Close keeps its parked goroutines,
// and so its jobs, for the life of the process. A [WaitCtx] dropped without
// Free never runs its cleanups, so the fds they would close stay open.
package async
