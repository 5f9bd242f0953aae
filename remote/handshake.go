package remote

import (
	"context"
	"errors"
	"net"
	"os"
	"time"

	"google.golang.org/grpc/credentials"
)

// alertCreds are TLS credentials whose client handshake waits for the
// signer's first words before it reports success.
//
// With TLS 1.3 the client's side of the handshake is done before the
// server has checked the client's certificate: a server that rejects it
// sends its alert, and closes the connection, only afterwards. gRPC's
// first write (its preface) then races that alert: if the close reached
// this side first, the write fails with EPIPE or ECONNRESET, the alert
// is never read, and a refusal looks like a signer that went away (it
// was reported as ErrUnavailable, at the deadline, instead of ErrRefused
// at once). So the handshake here reads first: a gRPC server sends its
// SETTINGS frame as soon as it accepts the certificate, and a rejecting
// one its alert; either way the first read says which, before anything
// is written. The bytes it read are handed to gRPC in order.
type alertCreds struct {
	credentials.TransportCredentials
}

// maxAlertWait bounds how long the handshake waits for the server's first
// words (within the connection's own deadline). A server that says
// nothing by then is taken as accepting, as before.
const maxAlertWait = 5 * time.Second

func (c alertCreds) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, raw)
	if err != nil {
		return nil, nil, err
	}
	until := time.Now().Add(maxAlertWait)
	if d, ok := ctx.Deadline(); ok && d.Before(until) {
		until = d
	}
	if err := conn.SetReadDeadline(until); err != nil {
		conn.Close()
		return nil, nil, err
	}
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		err = conn.SetReadDeadline(time.Time{})
	}
	if err != nil {
		conn.Close()
		return nil, nil, err // such as "remote error: tls: bad certificate"
	}
	return &readAhead{Conn: conn, ahead: buf[:n]}, info, nil
}

func (c alertCreds) Clone() credentials.TransportCredentials {
	return alertCreds{c.TransportCredentials.Clone()}
}

// readAhead is a connection whose first bytes were read already.
type readAhead struct {
	net.Conn
	ahead []byte
}

func (c *readAhead) Read(p []byte) (int, error) {
	if len(c.ahead) > 0 {
		n := copy(p, c.ahead)
		c.ahead = c.ahead[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
