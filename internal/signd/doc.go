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
// What is answered with an error code for that request alone, while
// every other request and client keeps being served:
//
//   - a key ID the signer does not hold: CODE_UNKNOWN_KEY;
//   - an algorithm that is unknown or does not match the key's type, a
//     digest that is not 32 bytes, an Ed25519 message longer than
//     [MaxMessage], a request ID already in flight on its stream:
//     CODE_BAD_REQUEST;
//   - a request whose deadline passed before a worker took it:
//     CODE_DEADLINE_EXCEEDED;
//   - a request canceled while still queued: CODE_CANCELED, at once;
//   - a request beyond [MaxQueued] requests or [MaxQueuedBytes] bytes of
//     payload in flight on its stream, or arriving while the server
//     stops: CODE_UNAVAILABLE, at once.
//
// A request ID unique on its stream is the client's to keep; a duplicate
// of one still in flight is answered CODE_BAD_REQUEST, and the first
// keeps its own answer.
//
// What ends a stream, with a gRPC status, while every other stream keeps
// being served: a message that is no RequestBatch (Internal), a batch of
// more than [MaxBatch] requests (InvalidArgument), the server stopping
// once the stream's requests in flight are answered (Unavailable). A
// stream whose client closes its side ends, with status OK, once its
// last answer is sent. Memory per stream stays bounded: past [MaxQueued]
// requests in flight requests are refused, and past as many answers the
// client has not taken the server stops reading the stream.
package signd
