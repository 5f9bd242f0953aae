// Package remote is an async-aware engine that signs with keys held by
// remote signers (cmd/asyncsignd), over gRPC with mutual TLS.
package remote
