// Package wake is how an async-aware engine wakes a paused job: a wait fd
// or the WaitCtx's callback. Package engine, on which every engine of this
// module is built, uses it to keep these promises to the application:
//
//   - The choice follows the man page: with the callback allowed and set
//     on the job's WaitCtx, the engine calls it, and the job pauses with
//     async.StatusOK; otherwise, with wait fds allowed, the engine makes
//     its wait fd readable, and the job pauses with
//     async.StatusUnsupported (the status says nothing; the fd does).
//     With neither, the application polls by resuming the job.
//   - An engine has one wait fd, an eventfd shared by every WaitCtx it
//     pauses a job on, as QAT_Engine's is: each WaitCtx lists it under
//     the engine's key from its first use on, and it is closed when the
//     last WaitCtx that lists it is freed (or, if an operation still holds
//     it then, when that operation lets go).
//   - The fd is readable exactly while an operation that completed has
//     not returned: each completion signals it, and each job drains its
//     own signal before it goes on, so no wake-up outlives its operation.
//     Only the first signal writes the eventfd and only the last drain
//     reads it, so completions that come in bunches cost no system call
//     each.
//   - An application in this module (package loop) may watch the fd
//     rather than poll it: it finds the FD by number (Lookup) and is told
//     of each signal by the signaling goroutine (Watch), without the
//     kernel. For the WaitCtxs it watches the fd for (WatchFor), the
//     signals are quiet: they neither write nor read the fd, since no one
//     polls it for those jobs. Every other WaitCtx's operations make it
//     readable as above, so the man page's contract holds for every
//     application that waits on the fd.
//
// The wait fd is an eventfd(2), so only Linux has one: elsewhere a Policy
// that allows it and finds no callback asks for none (the application then
// polls), and an engine refuses a configuration that needs it, with
// ErrNoWaitFD.
package wake
