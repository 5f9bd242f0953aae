// Package signer is a remote signer: a gRPC service (see package signpb for
// the wire protocol) that signs with private keys it never reveals, for
// clients that authenticate with TLS 1.3 client certificates. Command
// asyncsignd runs it; package remote is its client.
//
// # Deployment
//
// [Init] writes a self-contained deployment into a directory: a CA for
// each role, a server identity and a client identity, and one signing key
// of each supported type (with a certificate for a TLS front end that
// serves with the key while the key itself stays in the signer). Each
// role's certificates come from its own CA, so that each is accepted in
// its role only: the signer CA issues the signer's certificate, and is
// the only CA [ClientTLS] takes a signer's from; the client CA issues the
// clients', and is the only CA the server takes a client's from; the site
// CA (ca.pem, what a browser trusts) issues the front ends'. A front
// end's or a client's certificate presented by a fake signer is refused.
// [AddClient] issues more client identities, each a directory a client
// takes as it takes the deployment. [New] reads the server's half of it,
// [ClientTLS] the client's. A deployment an older Init wrote, with one CA
// for every role, is refused by both ([ErrOldDeployment]): re-run init in
// a new directory.
//
// Init is all or nothing: it builds the deployment beside its directory
// and renames it into place, so that a killed Init leaves none. [New]
// refuses, as ssh does, private keys or the keys directory that group or
// others may read or write ([PermissionError] says which, and the chmod
// that fixes it).
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
// ECDSA P-256 ones; a turn is worth at most that, and a costlier
// request, such as an RSA-4096 signature, waits for its client to save
// up several turns), so that behind one client's backlog another
// client's request waits about one turn of each other client.
//
// What is answered with an error code for that request alone, while
// every other request and client keeps being served:
//
//   - a key ID the signer does not hold: CODE_UNKNOWN_KEY;
//   - an algorithm number the signer does not know, an algorithm that
//     does not suit the key's type (an ECDSA algorithm, with any of its
//     hashes, for an ECDSA key on any of P-256, P-384 and P-521; PKCS #1
//     v1.5 or PSS for an RSA key; ED25519 for an Ed25519 key), a digest
//     whose length is not that of the algorithm's hash (32, 48 or 64
//     bytes for SHA-256, SHA-384, SHA-512), an Ed25519 message longer
//     than [MaxMessage], a request ID already in flight on its stream:
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
// client identity ([Config.ClientMemory]) and in total
// ([Config.MaxMemory]). A request is counted, from its arrival until
// its answer is sent, as its encoded size (key ID and unknown fields
// included) plus a fixed overhead; a refused one as the overhead, until
// its answer is sent. A message being read is counted before gRPC reads
// it: each stream's receiver (and each SignOne call) reserves twice
// [MaxRecvMsgSize] from its client's and the server's bounds, the
// message and its decoded copies, and waits while that does not fit;
// once the message is in, the reservation shrinks to twice its size, its
// requests' bytes are taken out of it, and the rest is let go once they
// are queued. A batch is decoded a few requests at a time. A stream also
// stops being read while [MaxQueued] of its answers are unsent, or while
// its client or the server holds three quarters of its bound and the
// stream holds anything or just had a request refused for that bound. A
// stream that is not read holds its client back by HTTP/2 flow control,
// and costs the server its window. So that a client alone always makes
// progress, ClientMemory is at least [MinClientMemory] (two messages
// being read) and MaxMemory at least ClientMemory; a client with more
// streams than its bound lets read at once has the others wait their
// turn, since a stream waiting for a message holds its reservation.
//
// What stays outside those bounds is fixed per connection, and the
// bounds on connections bound it:
//
//	per connection     ConnectionBytes = MaxStreams × StreamWindow
//	                   + 2 × 32 KiB buffers + about 192 KiB (TLS, HTTP/2,
//	                   gRPC's streams) ≈ 4.25 MiB
//	per client         MaxConnsPerClient × ConnectionBytes
//	                   (default 8 × 4.25 MiB = 34 MiB)
//	in total           MaxConns × ConnectionBytes + MaxHandshakes ×
//	                   HandshakeBytes (default 128 × 4.25 MiB + 64 × 64 KiB
//	                   ≈ 548 MiB; -max-conns sets it)
//
// The process's RSS is then at most MaxMemory, plus that, plus the Go
// runtime's garbage (up to as much again as what is live, GOGC=100) and
// a baseline of about 15 MiB.
//
// # Connections
//
// What anyone can open is bounded too ([Config], with documented
// defaults): a connection must finish its TLS handshake and HTTP/2
// preface within HandshakeTimeout; at most MaxHandshakes connections may
// be unauthenticated at once, and a new one closes the oldest of them, so
// that sockets that never speak cannot lock a client out; at most
// MaxConns are open in all (by default 128, or half the open-file limit
// if less: a few front ends, each with a connection or two per signer,
// need no more, and each connection may cost ConnectionBytes outside the
// bounds in bytes); a client identity (its certificate's CommonName) may hold
// MaxConnsPerClient; and a connection with no RPC for IdleTimeout is
// closed.
package signer
