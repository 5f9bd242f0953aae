package signer

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// A client's identity is what the server counts its bounds and its fair
// share by: not a connection or a stream, which a client can multiply,
// but the name its certificate gives it. Every certificate the
// deployment's client CA issues names one client, by the Subject's
// CommonName; one without a CommonName is named by its public key.
func identityOf(cert *x509.Certificate) string {
	if cn := cert.Subject.CommonName; cn != "" {
		return cn
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return "spki:" + hex.EncodeToString(sum[:])
}

// identityFromContext returns the identity of the client of an RPC's
// ctx, from the certificate its TLS handshake verified, and false when
// it has none (which mutual TLS makes impossible outside tests).
func identityFromContext(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	return identityOf(info.State.VerifiedChains[0][0]), true
}
