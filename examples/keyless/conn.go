//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"syscall"
)

// clientConn is a client's TCP conn as the server accepted it, with what
// the server notes about its handshake. crypto/tls hands it back to the
// server in ClientHelloInfo.Conn, and net/http in ConnContext (under the
// *tls.Conn), which is how a handler finds what the handshake's signer
// noted.
type clientConn struct {
	net.Conn
	raw syscall.RawConn // the socket, to watch for a hang-up; nil if none

	// scheme is the tls.SignatureScheme the last handshake on the conn
	// was signed with, 0 before one is.
	scheme atomic.Uint32
	// site is the site GetCertificate last picked for the conn, nil
	// before it does (or when a session is resumed).
	site atomic.Pointer[site]
}

// trackConns returns lis with every accepted conn made a *clientConn.
func trackConns(lis net.Listener) net.Listener { return trackingListener{lis} }

type trackingListener struct{ net.Listener }

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &clientConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		cc.raw, _ = sc.SyscallConn() // without it, hang-ups go unnoticed
	}
	return cc, nil
}

type connKey struct{}

// withConn is the server's ConnContext: it puts c's *clientConn in the
// context of c's requests.
func withConn(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		if cc, ok := tc.NetConn().(*clientConn); ok {
			return context.WithValue(ctx, connKey{}, cc)
		}
	}
	return ctx
}

// connFrom returns the *clientConn of a request's context, or nil.
func connFrom(ctx context.Context) *clientConn {
	cc, _ := ctx.Value(connKey{}).(*clientConn)
	return cc
}
