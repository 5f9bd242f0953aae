//go:build linux

package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"fmt"
	"io"
)

// certificate is the server's GetCertificate. It picks the site by the
// client's server name, and gives the handshake the site's chain with a
// signer of its own, bound to what crypto/tls offers of that handshake:
// its context (canceled when the handshake returns) and its conn.
func (s *server) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	st := s.sites.pick(hello)
	cert := st.cert // a copy: its PrivateKey is this handshake's alone
	hs := &handshakeSigner{key: st.key, ctx: hello.Context()}
	if hs.conn, _ = hello.Conn.(*clientConn); hs.conn != nil {
		hs.conn.site.Store(st)
	}
	cert.PrivateKey = hs
	return &cert, nil
}

// handshakeSigner signs one handshake with a site's key, under the
// handshake's context, and notes on the conn which scheme it signed with.
type handshakeSigner struct {
	key  key
	ctx  context.Context
	conn *clientConn // nil if the listener was not the server's own
}

func (h *handshakeSigner) Public() crypto.PublicKey { return h.key.Public() }

// Sign signs for crypto/tls. Besides when the handshake's context ends
// (and, for the remote key, after the engine's timeout, -sign-timeout),
// the signature is given up when the client hangs up meanwhile: crypto/tls
// does not read the conn while it waits for the signature, so it would not
// notice.
func (h *handshakeSigner) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	ctx := h.ctx
	if h.conn != nil {
		var stop func()
		ctx, stop = h.conn.watchHangup(ctx)
		defer stop()
	}
	sig, err := h.key.WithContext(ctx).Sign(rand, digest, opts)
	if err != nil {
		if ctx.Err() != nil {
			if cause := context.Cause(ctx); cause != ctx.Err() {
				err = fmt.Errorf("%w: %w", cause, err)
			}
		}
		return nil, fmt.Errorf("keyless: signing the handshake: %w", err)
	}
	if h.conn != nil {
		h.conn.scheme.Store(uint32(schemeOf(h.key.Public(), opts)))
	}
	return sig, nil
}
