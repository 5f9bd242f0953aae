package signer

import (
	"container/list"
	"errors"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc/credentials"
)

// Connections are bounded in three ways, so that neither idle sockets
// (slowloris) nor one client's connections lock others out:
//
//   - in total (Config.MaxConns), below the process's fd limit;
//   - while unauthenticated (Config.MaxHandshakes): a connection still in
//     its TLS handshake or HTTP/2 preface, which anyone can open. When a
//     new connection finds either bound reached, the oldest connection
//     still handshaking is closed to make room: a client completing its
//     handshake in milliseconds is not starved by sockets that never
//     speak, which Config.HandshakeTimeout ends anyway;
//   - per client identity (Config.MaxConnsPerClient), counted from the
//     verified certificate, as every bound and share of a client is: a
//     connection over it is closed right after its handshake.
//
// When every connection is authenticated and MaxConns is reached, a new
// one is closed at once; idle ones end after Config.IdleTimeout.

// errTooManyConns is the handshake's error for a connection over its
// client's bound; gRPC closes the connection.
var errTooManyConns = errors.New("signer: too many connections for this client")

// errEvicted is the handshake's error for a connection closed to make
// room for a newer one.
var errEvicted = errors.New("signer: connection closed to make room for another while still handshaking")

// limiter counts the connections of a server.
type limiter struct {
	maxConns, maxHandshakes, maxPerClient int
	obs                                   *observer // set by Server.observe, before serving

	mu          sync.Mutex
	total       int
	handshaking list.List // of *trackedConn, oldest first
	perClient   map[string]int
}

func newLimiter(maxConns, maxHandshakes, maxPerClient int) *limiter {
	return &limiter{maxConns: maxConns, maxHandshakes: maxHandshakes, maxPerClient: maxPerClient, perClient: map[string]int{}}
}

// connState is where a tracked connection is, under limiter.mu.
type connState int

const (
	connHandshaking connState = iota
	connAuthenticated
	connGone
)

// trackedConn is a connection the limiter counts until it is closed.
type trackedConn struct {
	net.Conn
	l *limiter
	// Under l.mu:
	state    connState
	elem     *list.Element // in l.handshaking while connHandshaking
	identity string        // once connAuthenticated
}

// Close lets go of the connection's place, once, and closes it.
func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	opened := c.state == connAuthenticated
	c.l.release(c)
	c.l.mu.Unlock()
	c.l.obs.connClosed(opened, c.identity, c.RemoteAddr())
	return c.Conn.Close()
}

// release takes c out of the counts; under mu.
func (l *limiter) release(c *trackedConn) {
	switch c.state {
	case connGone:
		return
	case connHandshaking:
		l.handshaking.Remove(c.elem)
		c.elem = nil
	case connAuthenticated:
		if l.perClient[c.identity]--; l.perClient[c.identity] == 0 {
			delete(l.perClient, c.identity)
		}
	}
	c.state = connGone
	l.total--
}

// admit counts a newly accepted connection, making room by closing the
// oldest one still handshaking if a bound is reached; it returns nil, with
// c closed, when there is no room.
func (l *limiter) admit(c net.Conn) *trackedConn {
	l.mu.Lock()
	var evict *trackedConn
	if l.total >= l.maxConns || l.handshaking.Len() >= l.maxHandshakes {
		front := l.handshaking.Front()
		if front == nil {
			l.mu.Unlock()
			c.Close()
			l.obs.refused(refusedConns, "", c.RemoteAddr())
			return nil
		}
		evict = front.Value.(*trackedConn)
		l.release(evict)
	}
	tc := &trackedConn{Conn: c, l: l, state: connHandshaking}
	tc.elem = l.handshaking.PushBack(tc)
	l.total++
	l.mu.Unlock()
	if evict != nil {
		evict.Conn.Close() // its handshake fails; gRPC then closes it again
		l.obs.refused(refusedEvicted, "", evict.RemoteAddr())
	}
	return tc
}

// authenticate moves c from the handshaking to its client's connections,
// or says why it may not.
func (l *limiter) authenticate(c *trackedConn, identity string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case c.state != connHandshaking:
		return errEvicted
	case l.perClient[identity] >= l.maxPerClient:
		return fmt.Errorf("%w (%d)", errTooManyConns, l.maxPerClient)
	}
	l.handshaking.Remove(c.elem)
	c.elem = nil
	c.state = connAuthenticated
	c.identity = identity
	l.perClient[identity]++
	return nil
}

// counts returns the connections open, those still handshaking, and
// those of identity.
func (l *limiter) counts(identity string) (total, handshaking, client int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.handshaking.Len(), l.perClient[identity]
}

// limitListener is a listener whose connections the limiter counts.
type limitListener struct {
	net.Listener
	l *limiter
}

// Accept returns the next connection there is room for; those there is
// none for are closed as they come.
func (ll limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := ll.l.admit(c); tc != nil {
			return tc, nil
		}
	}
}

// limitCreds are the server's TLS credentials, which also count each
// connection to its client once the handshake has verified who it is.
type limitCreds struct {
	credentials.TransportCredentials
	l *limiter
}

func (c limitCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		c.l.obs.handshakeFailed(raw, err)
		return nil, nil, err
	}
	tc, ok := raw.(*trackedConn)
	if !ok {
		return conn, info, nil // not from Serve's listener: not counted
	}
	identity := ""
	if ti, ok := info.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
		identity = identityOf(ti.State.VerifiedChains[0][0])
	}
	if err := c.l.authenticate(tc, identity); err != nil {
		c.l.obs.notAuthenticated(err, identity, raw.RemoteAddr())
		conn.Close()
		return nil, nil, err
	}
	c.l.obs.connOpened(identity, raw.RemoteAddr())
	return conn, info, nil
}

func (c limitCreds) Clone() credentials.TransportCredentials {
	return limitCreds{c.TransportCredentials.Clone(), c.l}
}
