package signer

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// idleConns opens n TCP connections to addr that never say anything, and
// closes them when the test ends.
func idleConns(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return conns
}

// dialDir connects to sv as the client of the directory dir (the
// deployment's or one AddClient wrote).
func dialDir(t testing.TB, sv *served, dir string) pb.SignerClient {
	t.Helper()
	tc, err := ClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(sv.addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewSignerClient(conn)
}

// signWithin has sv's client make one ECDSA signature, within d.
func signWithin(t *testing.T, client pb.SignerClient, d time.Duration) time.Duration {
	t.Helper()
	_, byName := loadTestKeys(t)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	r, err := client.SignOne(ctx, ecdsaRequests(byName, 0, 1)[0], grpc.WaitForReady(true))
	if err != nil || r.Code != pb.Code_CODE_OK {
		t.Fatalf("a good client's signature: %v, %v", r, err)
	}
	return time.Since(start)
}

// TestSlowlorisHandshakes (item 4 of the signer audit: idle TCP
// connections, never handshaking, locked a good client out): with far
// more idle connections than the bound on handshakes, at most that many
// are held, and a good client still gets its signature at once. Closed,
// they leave nothing counted.
func TestSlowlorisHandshakes(t *testing.T) {
	sv := serve(t, Config{MaxConns: 64, MaxHandshakes: 8})
	idle := idleConns(t, sv.addr, 200)
	waitFor(t, func() bool { total, hs, _ := sv.s.conns.counts(""); return total == 8 && hs == 8 })
	took := signWithin(t, sv.client, 5*time.Second)
	t.Logf("a good client's first signature behind %d idle connections: %v", len(idle), took)
	// The oldest idle connections were closed by the server.
	idle[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle[0].Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Errorf("the oldest idle connection: %v, want closed", err)
	}
	for _, c := range idle {
		c.Close()
	}
	waitFor(t, func() bool {
		total, hs, client := sv.s.conns.counts(DefaultClientName)
		return total == 1 && hs == 0 && client == 1
	})
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// TestHandshakeTimeout (item 4: gRPC's default handshake timeout is
// 120 s): a connection that says nothing, or a part of a ClientHello,
// is closed after Config.HandshakeTimeout.
func TestHandshakeTimeout(t *testing.T) {
	sv := serve(t, Config{HandshakeTimeout: 300 * time.Millisecond})
	conns := idleConns(t, sv.addr, 2)
	conns[1].Write([]byte{0x16, 0x03, 0x01, 0x02}) // the start of a TLS record
	for i, c := range conns {
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if took := time.Since(start); err != nil || took > 3*time.Second {
			t.Errorf("connection %d: closed after %v (%v), want after 300ms", i, took, err)
		}
	}
	waitFor(t, func() bool { total, _, _ := sv.s.conns.counts(""); return total == 0 })
}

// TestConnsPerClient (item 4): a client identity gets at most
// Config.MaxConnsPerClient connections; one more is closed after its
// handshake, while another identity is served. Closing one makes room.
func TestConnsPerClient(t *testing.T) {
	sv := serve(t, Config{MaxConnsPerClient: 2})
	signWithin(t, sv.client, 5*time.Second)
	second := dialDir(t, sv, testDir)
	signWithin(t, second, 5*time.Second)
	tc, err := ClientTLS(testDir)
	if err != nil {
		t.Fatal(err)
	}
	third, err := grpc.NewClient(sv.addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pb.NewSignerClient(third).Stats(ctx, &pb.StatsRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("a third connection of one client: %v, want Unavailable", err)
	}
	if _, _, n := sv.s.conns.counts(DefaultClientName); n != 2 {
		t.Errorf("%d connections counted for the client, want 2", n)
	}
	other, err := AddClient(testDir, "conns-test")
	if err != nil {
		t.Fatal(err)
	}
	signWithin(t, dialDir(t, sv, other), 5*time.Second)
	if _, _, n := sv.s.conns.counts("conns-test"); n != 1 {
		t.Errorf("%d connections counted for the other client, want 1", n)
	}
	sv.conn.Close()
	waitFor(t, func() bool { _, _, n := sv.s.conns.counts(DefaultClientName); return n == 1 })
	signWithin(t, pb.NewSignerClient(third), 10*time.Second)
}

// TestIdleTimeout (item 4: idle authenticated connections must not hold
// their places forever): a connection with no RPC for
// Config.IdleTimeout is closed, and its client reconnects when it needs.
func TestIdleTimeout(t *testing.T) {
	sv := serve(t, Config{IdleTimeout: 300 * time.Millisecond})
	signWithin(t, sv.client, 5*time.Second)
	waitFor(t, func() bool { total, _, _ := sv.s.conns.counts(""); return total == 0 })
	signWithin(t, sv.client, 5*time.Second)
}

// TestMaxConns (item 4): when every connection is authenticated and
// Config.MaxConns is reached, a new one is closed at once, and counted
// nowhere; the server keeps serving those it has.
func TestMaxConns(t *testing.T) {
	sv := serve(t, Config{MaxConns: 2})
	signWithin(t, sv.client, 5*time.Second)
	signWithin(t, dialDir(t, sv, testDir), 5*time.Second)
	var wg sync.WaitGroup
	for range 4 {
		c := idleConns(t, sv.addr, 1)[0]
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
				t.Errorf("a connection over MaxConns: %v, want closed", err)
			}
		})
	}
	wg.Wait()
	if total, hs, _ := sv.s.conns.counts(""); total != 2 || hs != 0 {
		t.Errorf("%d connections, %d handshaking; want 2, 0", total, hs)
	}
	signWithin(t, sv.client, 5*time.Second)
}
