// Package remote is an async-aware engine that signs with keys held by
// remote signers (command asyncsignd, or a program that embeds package
// signer), over gRPC with mutual TLS. It is to a
// network signing service what package offload is to local worker
// goroutines: called from inside an [async.Job] it sends the request,
// pauses the job, and returns the signature when the job is resumed, so
// that one goroutine (an event loop, package loop) keeps hundreds of
// signatures in flight.
//
// # Two ways to call it
//
// [Engine.Sign] (and [Signer.Sign], and [Signer.SignContext]) takes a
// context. Outside a job ([async.CurrentJob] returns nil for it) the call
// blocks until the answer comes, the ctx is done, or the engine gives up.
// Inside a job the engine hands the request to one of its streams,
// arranges for the application to be woken when the answer comes, and
// calls [async.PauseJob]; [async.Pool.StartJob] returns [async.Pause].
// Either way the results are the same.
//
// The engine is built on package engine, as offload is, and keeps the
// same contract with the application, written once there: how a paused
// job is woken ([Config.Notify]: the engine's wait fd, an eventfd shared by
// its WaitCtxs and made readable when an answer comes; the WaitCtx's
// callback, called from the engine's goroutine that got the answer, after
// the status was set to [async.StatusOK]; or nothing, for an application
// that polls), spurious resumes, [async.StatusEAGAIN] at the bound on
// requests in flight ([Config.MaxInFlight]), cancellation, the ctx, and
// what a callback that panics or calls runtime.Goexit leads to: the
// operation it was called for returns a [*PanicError] (or, if that had its
// answer already, [Engine.Close] does). Package enginetest checks it
// (TestConformance). A callback's Goexit ends the engine's goroutine it
// runs on: the rest of that goroutine's work is done first (the rest of a
// batch answered, of a sweep expired, of a failover moved), and the
// goroutine is replaced (a receiver's stream is reopened, its requests
// going to another). See package loop for an event loop that pairs
// ModeFD with NotifyFD, ModeCallback with NotifyAuto and ModePoll with
// NotifyPoll.
//
// # The wire
//
// The engine keeps a few long-lived bidirectional Sign streams to each
// signer ([Config.StreamsPerServer]), and requests from every caller share
// them, each tagged with an ID. Each stream has one goroutine that sends
// and one that receives, and nothing else: no goroutine and no timer per
// operation. The sender, woken by a new request, takes everything queued
// on its stream and sends it as one RequestBatch; requests that arrive
// while that batch is on its way go in the next. So requests travel in
// batches when they come in bursts, and none waits for a batch to fill.
// Answers come back in batches too, in any order; the receiver completes
// each request and wakes its caller.
//
// Requests are pooled and their payloads copied into buffers they keep,
// so an operation allocates nothing in the engine beyond what protobuf
// allocates to decode its answer (see the benchmarks).
//
// # A fleet of signers
//
// With several addresses ([Config.Addrs]) each request goes to the stream
// with the fewest requests outstanding among the signers that are up (a
// stream is open and the signer passes its grpc.health.v1 health check,
// made every [Config.HealthInterval]). When a stream fails (the signer
// died, even by SIGKILL, or stopped answering its health checks) the
// requests it held are sent again to another signer: signing is
// idempotent, so nothing is lost. Each send gets a fresh ID, and an answer
// is taken only from the stream its request is waiting on, so a late
// answer from a dead or replaced stream is dropped: no caller gets two
// answers, or one meant for another. A signer that answers
// CODE_UNAVAILABLE (it is shutting down) has the request sent elsewhere
// too. A request the signer's policy does not let this client make
// (CODE_PERMISSION_DENIED) fails at once with [ErrDenied], and is never
// sent to another signer.
//
// # Finding signers
//
// Each of [Config.Addrs] is a gRPC target, resolved by gRPC's own
// resolver for its scheme (or one of [Config.Resolvers]): "host:port" is
// one signer; "dns:///signers.internal:7443" is one per address the name
// resolves to, each with its own connection and streams, and each
// certified for the name. A signer that joins takes requests from the
// resolver update that names it; one that leaves takes no more, and is
// drained: the requests it was sent are answered, or after 5s sent to
// another signer, and its late answers dropped. While no target resolves
// to any address, requests wait (see Overload) and fail at their deadline
// with [ErrUnavailable], wrapping the resolver's error.
//
// # Overload
//
// A signer holds each stream to bounds it states in the stream's first
// answer (its limits: requests in flight, their encoded bytes, and
// requests per batch), and holds each client to bounds of its own. The
// engine keeps each stream within its bounds: a request that does not
// fit waits in the stream's queue, and the stream sends it when an answer
// frees room; no batch is larger than the signer takes. (Until a signer
// states its bounds, the engine assumes those of a signer that predates
// them: 4,096 requests and 16 MiB in flight, 16,384 a batch.) A request
// the signer refuses for want of room (CODE_OVERLOADED; from a signer
// that predates it, CODE_UNAVAILABLE other than for a shutdown) is not
// failed: it is queued again on the least loaded stream, and the stream
// that was refused sends no more than it still has in flight until an
// answer comes (or, with nothing in flight, waits 1ms, then 2ms, and so
// on up to 50ms). Refusals are counted in [Stats].Overloaded. A request
// fails for want of room only at its deadline, with [ErrOverloaded]
// ("no room before the deadline"); [ErrUnavailable] means that no
// signer could be reached.
//
// With no signer reachable, requests wait for one until their deadline:
// the ctx's, or, without one, [Config.Timeout] (10s by default; a ctx
// deadline, even a later one, replaces it). They then
// fail with [ErrUnavailable], wrapping context.DeadlineExceeded and the
// last connection error. A signer that refuses this client's certificate,
// or whose certificate this client refuses, fails requests at once with
// [ErrRefused] and a message that says whose certificate was not
// accepted. (With TLS 1.3 a client learns that the signer rejected its
// certificate only when it first reads from the connection, so it is the
// first operation, not [New], that reports it. The engine reads the
// signer's first words before it writes anything on a new connection, so
// that the signer's alert, not a broken pipe, says why it closed.)
//
// # Deadlines and cancellation
//
// A request carries the time it has left (timeout_nanos), computed on the
// monotonic clock as its batch leaves, so that time spent waiting in the
// engine for room is not granted again and the two machines' clocks need
// not agree; the signer counts it from the request's arrival and drops a
// request whose time has run out. Deadlines are judged on the monotonic
// clock; one after 2262, or a Timeout of math.MaxInt64, means "never",
// not an overflow. One goroutine per engine sweeps the streams
// every millisecond while requests are in flight, and ends those whose
// ctx is done or whose deadline has passed, waking their jobs: a job
// whose ctx expires is woken by the engine, not left paused. When a job
// is canceled ([async.Pool.CancelJob], or its pool closed), a blocking
// caller's ctx is done, or the sweeper ends a request, the engine sends
// its ID in the next batch's cancel list, so that the signer drops it if
// it has not started it; its answer, if one comes, reaches no one.
//
// # Public keys and verification
//
// [Engine.PublicKey] (and [Engine.Signer]) fetch a key's public half with
// a unary call the first time, check that it has the ID asked for, and
// keep it: it never changes for its ID. Inside a job such a fetch pauses
// the job as Sign does (StatusEAGAIN at MaxInFlight, the same wake-up);
// outside one it blocks. With [Config.VerifySignatures] the engine checks
// every signature against the key it fetched before returning it, on the
// caller's goroutine; a signature that fails is [ErrBadSignature]. The
// check costs one verification per operation: about 57µs for ECDSA
// P-256 and 42µs for Ed25519 on a 2-core development machine
// (BenchmarkVerify), ten times the engine's own CPU per operation
// (BenchmarkSignJobs's cpu-ns/op), and more than the signer spends to
// sign.
//
// # Security
//
// Connections use TLS 1.3 only, verify the signer's certificate against
// the roots in [Config.TLS], and present the client's certificate
// ([github.com/seed-e1024768/async/signer.ClientTLS] makes that
// configuration from a deployment, or from a client's directory that
// `asyncsignd client` wrote). The
// engine checks that a public key a signer sends has the ID that was
// asked for. Key IDs are the lowercase hex SHA-256 of a key's DER
// SubjectPublicKeyInfo ([KeyID]).
//
// The package builds and works on every OS with callbacks and polling; its
// wait fd is an eventfd, so NotifyFD needs Linux (elsewhere New refuses
// it, and NotifyAuto without a callback leaves the job to be polled).
package remote
