// Package wake is how an async-aware engine wakes a paused job: a wait fd
// or the WaitCtx's callback. The engines of packages offload and remote
// share it, so that both keep the same promises to the application:
//
//   - The choice follows the man page: with the callback allowed and set
//     on the job's WaitCtx, the engine calls it, and the job pauses with
//     async.StatusOK; otherwise, with wait fds allowed, the engine makes
//     its wait fd readable, and the job pauses with
//     async.StatusUnsupported (the status says nothing; the fd does).
//     With neither, the application polls by resuming the job.
//   - An engine has one wait fd per WaitCtx, an eventfd set under the
//     engine's key on first use and closed when the WaitCtx is freed (or,
//     if an operation still holds it then, when that operation lets go).
//   - The fd is readable only until the operation that made it so
//     returns: the job drains it before it goes on, so a wake-up never
//     outlives the operation it is for.
//
// The wait fd is an eventfd(2), so only Linux has one: elsewhere a Policy
// that allows it and finds no callback asks for none (the application then
// polls), and an engine refuses a configuration that needs it, with
// ErrNoWaitFD.
package wake
