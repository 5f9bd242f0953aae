// Package signd is a remote signer: a gRPC service (see package signpb for
// the wire protocol) that signs with private keys it never reveals, for
// clients that authenticate with TLS 1.3 client certificates. Command
// asyncsignd runs it; package remote is its client.
//
// # Deployment
//
// [Init] writes a self-contained deployment into a directory: a CA, a
// server identity and a client identity signed by it, and one signing key
// of each supported type (with a certificate for a TLS front end that
// serves with the key while the key itself stays in the signer). [New]
// reads the server's half of it, [ClientTLS] the client's.
//
// Keys are named by their key ID, [KeyID]: the lowercase hex SHA-256 of
// the DER SubjectPublicKeyInfo of the public key.
//
// # Serving
//
// A [Server] signs on a fixed pool of workers, one per core by default:
// measured, that beats a goroutine per request, and it lets answers batch
// themselves. On a Sign stream each request is queued for the pool; each
// stream has one sender that drains every result ready into a single
// ResultBatch. Nothing is spawned or armed per request: no goroutine, no
// timer, no channel. [Config.Delay] lets a test or a benchmark stand the
// signer in for a distant one: a request waits half the delay before a
// worker takes it, and its answer waits until the whole delay has passed
// since the request arrived; one timer serves each of the two queues, and
// the last moments of a wait are slept in the kernel, where the runtime's
// timers would be up to a millisecond late.
//
// Requests are signed in turn between client identities (the
// Subject CommonName of a client's certificate), not streams or
// connections, which a client can multiply: each identity has its own
// queue, and the workers take from them by deficit round robin, each
// turn worth the same signing cost (an RSA-2048 signature costs about 32
// ECDSA P-256 ones), so that behind one client's backlog another
// client's request waits about one turn of each other client.
//
// What is answered with an error code for that request alone, while
// every other request and client keeps being served:
//
//   - a key ID the signer does not hold: CODE_UNKNOWN_KEY;
//   - an algorithm that is unknown or does not match the key's type, a
//     digest that is not 32 bytes, an Ed25519 message longer than
//     [MaxMessage], a request ID already in flight on its stream:
//     CODE_BAD_REQUEST;
//   - a request whose time ran out before a worker took it:
//     CODE_DEADLINE_EXCEEDED (timeout_nanos counts from its arrival on
//     the server's monotonic clock; deadline_unix_nano, a wall-clock
//     instant, only when timeout_nanos is 0; a negative time has run
//     out, one past the clock's range never does);
//   - a request canceled while still queued: CODE_CANCELED, at once;
//   - a request that would take its stream past [MaxQueued] requests or
//     [MaxQueuedBytes] bytes in flight, or its client past
//     [Config.ClientMemory] or the server past [Config.MaxMemory] bytes
//     held: CODE_OVERLOADED, at once, with a message that names the
//     bound;
//   - a request arriving while the server stops: CODE_UNAVAILABLE, at
//     once (it means only that).
//
// A request ID unique on its stream is the client's to keep; a duplicate
// of one still in flight is answered CODE_BAD_REQUEST, and the first
// keeps its own answer.
//
// Every Sign stream's first ResultBatch, with no results, holds its
// limits: MaxQueued, MaxQueuedBytes and MaxBatch.
//
// What ends a stream, with a gRPC status, while every other stream keeps
// being served: a message that is no RequestBatch (Internal), one larger
// than [MaxRecvMsgSize] (ResourceExhausted), a batch of more than
// [MaxBatch] requests (InvalidArgument), the server stopping once the
// stream's requests in flight are answered (Unavailable). A stream whose
// client closes its side ends, with status OK, once its last answer is
// sent.
//
// # Memory
//
// What a client can make the server hold is bounded in bytes, per
// client identity and in total. A request is counted, from its arrival
// until its answer is sent, as its encoded size (key ID and unknown
// fields included) plus a fixed overhead; a refused one as the
// overhead, until its answer is sent. A stream stops being read while
// [MaxQueued] of its answers are unsent, or while its client or the
// server holds three quarters of its bound and the stream holds
// anything or just had a request refused for that bound: a client that
// does not read its answers is held back by HTTP/2 flow control. What gRPC itself holds is bounded per connection
// by [ConnectionBytes]: [MaxStreams] streams, each with a fixed window
// of [StreamWindow] bytes and a message of at most [MaxRecvMsgSize]
// being read and decoded.
package signd
