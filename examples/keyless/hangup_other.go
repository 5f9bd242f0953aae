//go:build !linux

package main

import "context"

// watchHangup does not watch on this system: it has no POLLRDHUP, and
// without it a hang-up behind unread bytes cannot be seen without reading
// them. A client that hangs up during the signature is noticed when the
// signature is done.
func (c *clientConn) watchHangup(ctx context.Context) (_ context.Context, stop func()) {
	return ctx, func() {}
}
