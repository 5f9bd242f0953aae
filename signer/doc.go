// Package signer is a remote signer: a gRPC service that signs with
// private keys it never reveals, for clients that authenticate with
// TLS 1.3 client certificates. Command asyncsignd runs it; a program of
// your own can embed it. Package remote is its client: an async-aware
// engine, and a [crypto.Signer] for each key.
//
// # Embedding
//
// A [Server] takes its keys from a [KeyStore]: [DirKeys] reads key
// files, and any type with a Keys method will do, in front of an HSM or
// a KMS (each key's Signer is called from several goroutines at once).
// Its TLS identity, and the CA its clients' certificates must come from,
// are those of a deployment directory ([Init] writes one, [AddClient]
// adds clients to it):
//
//	s, err := signer.New(signer.Config{Dir: dir, Keys: store})
//	if err != nil {
//		return err // names the file or the bound at fault
//	}
//	lis, err := net.Listen("tcp", ":7000")
//	if err != nil {
//		return err
//	}
//	go s.Serve(lis)
//	// ... until the program ends:
//	s.Stop(10 * time.Second) // answers the requests in flight, then closes
//
// A client dials it with [ClientTLS] of the deployment, or of a client's
// directory, and package remote. [Config] holds the bounds on memory and
// connections, whose defaults suit a few front ends; [Server.Stats]
// counts what the server did. Example shows the whole of it.
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
// The CAs' private keys are kept out of the directory, in [CADir] beside
// it: a signer that is broken into gives away no CA, and [New] refuses a
// directory that holds one ([ErrCAKeyServed]). [AddClient] issues more
// client identities, from the client CA's key in CADir, each a directory
// a client takes as it takes the deployment. [New] reads the server's
// half of it, [ClientTLS] the client's. A deployment an older Init wrote,
// with one CA for every role, is refused by both ([ErrOldDeployment]):
// re-run init in a new directory.
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
// # Key stores
//
// A [Server]'s keys come from a [KeyStore], [Config.Keys]: by default
// [DirKeys] of the deployment's keys directory, whose files may be PEM of
// PKCS #8, SEC1 or PKCS #1 ([ErrKeyFormat] and [ErrEncryptedKey] say what
// else a file holds, and how to convert it). Package pkcs11store is the
// store of a PKCS #11 token's keys, which sign inside the token;
// [IssueSiteCert] issues a front end's certificate for such a key.
//
// # Authorization
//
// A client is its certificate's CommonName, the name [AddClient] gives
// it. The deployment's policy file, policy.json ([Policy]), says which
// keys each client may use, by key name (a key file's stem, a token
// object's label), key ID, or "*": {"alice": ["ecdsap256"], "bob":
// ["*"]}. A client it does not name may use none; with no policy file
// every authenticated client may use every key, and the server's log
// says so. [Config.Authorizer] replaces the file with an [Authorizer] of
// one's own. A request for a key its client may not use is answered
// CODE_PERMISSION_DENIED for that request alone; PublicKey answers such
// a key NotFound, as a key the signer does not hold. The server asks the
// policy once per client and key and keeps the answers, as the keys a
// client may use, by ID: a request's check is the key lookup it makes
// anyway, and allocates nothing.
//
// # Reload
//
// [Server.Reload] (SIGHUP, for asyncsignd) reads the keys, the policy,
// the client CA and the server's certificate again, and swaps them in
// whole: the next request of every client, on a stream open or new, is
// authorized and signed under the new configuration, and the next TLS
// handshake uses the new CA and certificate. Requests in flight are
// answered, and connections stay open. If anything new cannot be read or
// does not parse, nothing changes and Reload says why.
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
// the last moments of a wait are slept on a timerfd in the netpoller,
// holding no P, where the runtime's timers would be up to a millisecond
// late.
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
//   - a key the client may not use (see Authorization):
//     CODE_PERMISSION_DENIED, at once;
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
//
// # Metrics and logs
//
// With [Config.Metrics] the server registers its Prometheus metrics
// there: asyncsignd_requests_total by code (the wire's, lowercase: ok,
// overloaded, permission_denied, ...) and key_type (ecdsa_p256,
// ecdsa_p384, ecdsa_p521, rsa2048, rsa3072, rsa4096, rsa_other,
// ed25519, or unknown for a key the signer does not hold);
// asyncsignd_queue_wait_seconds, from a request's arrival to a worker
// taking it, and asyncsignd_sign_seconds by key_type, the signing alone;
// asyncsignd_requests_in_flight (being signed) and
// asyncsignd_requests_queued; asyncsignd_connections_open by state
// (handshaking, authenticated) and asyncsignd_streams_open;
// asyncsignd_clients_refused_total by reason (max_conns,
// handshake_evicted, max_conns_per_client, handshake_failed, denied);
// asyncsignd_reloads_total and asyncsignd_reload_failures_total; and
// the bytes held and batches received and sent. Every label value comes
// from a fixed set: no request ID, key ID or client name, which a client
// could multiply. A request costs the metrics a few atomic additions and
// two readings of the clock, and allocates nothing; without Metrics and
// Logger it costs nothing.
//
// With [Config.Logger] the server logs, with log/slog, a line for each
// connection authenticated and each one closed, with its client's name
// and address; each reload, and why one failed; and each refused client
// (over a bound on connections, a failed handshake, a request its policy
// denies). The refusals' lines are rate-limited, 10 a second after a
// burst of 10, with a line saying how many more were suppressed, so
// that a flood cannot fill a disk; the metrics count them all. No key,
// payload or signature ever reaches a log line or an error.
package signer
