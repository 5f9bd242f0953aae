//go:build linux

package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"fmt"
	"io"

	"github.com/seed-e1024768/async/remote"
)

// certificate is the server's GetCertificate. It gives each handshake the
// chain with a signer of its own, bound to what crypto/tls offers of that
// handshake: its context (canceled when the handshake returns) and its
// conn.
func (s *server) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	cert := s.cert // a copy: its PrivateKey is this handshake's alone
	hs := &handshakeSigner{s: s, ctx: hello.Context()}
	hs.conn, _ = hello.Conn.(*clientConn)
	cert.PrivateKey = hs
	return &cert, nil
}

// handshakeSigner signs one handshake with the server's key, under the
// handshake's context, and notes on the conn which scheme it signed with.
type handshakeSigner struct {
	s    *server
	ctx  context.Context
	conn *clientConn // nil if the listener was not the server's own
}

func (h *handshakeSigner) Public() crypto.PublicKey { return h.s.key.Public() }

// Sign signs for crypto/tls. Besides when the handshake's context ends
// (and, for the remote key, after the engine's timeout, -sign-timeout),
// the signature is given up when the client hangs up meanwhile: crypto/tls
// does not read the conn while it waits for the signature, so it would not
// notice.
func (h *handshakeSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	ctx := h.ctx
	if h.conn != nil {
		var stop func()
		ctx, stop = h.conn.watchHangup(ctx)
		defer stop()
	}
	sig, err := h.s.key.WithContext(ctx).Sign(nil, digest, opts)
	if err != nil {
		if ctx.Err() != nil {
			if cause := context.Cause(ctx); cause != ctx.Err() {
				err = fmt.Errorf("%w: %w", cause, err)
			}
		}
		return nil, fmt.Errorf("keyless: signing the handshake: %w", err)
	}
	if h.conn != nil {
		h.conn.scheme.Store(uint32(schemeOf(h.s.key.Public(), opts)))
	}
	return sig, nil
}

// schemeOf returns the TLS signature scheme that crypto/tls asked for when
// it called Sign with opts for the key pub: crypto/tls does not say which
// one it picked, but the key's type and opts tell, among the schemes that
// signatureSchemes lets it pick. It returns 0 for any other.
func schemeOf(pub crypto.PublicKey, opts crypto.SignerOpts) tls.SignatureScheme {
	return remote.SchemeOf(pub, opts)
}
