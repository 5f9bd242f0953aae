package signer

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// TestRecvPaysFirst guards the bytes being read (item 2 of the signer
// audit): a stream's receiver pays for the message it may read before
// gRPC reads it, from its client's bound. With room for two messages
// being read, a client's third stream is not read while its first two
// wait for theirs; once one of them ends, the third is read and its
// request answered. The reservations count against the client's bound
// and the server's.
func TestRecvPaysFirst(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{ClientMemory: MinClientMemory, MaxMemory: 4 * MinClientMemory})
	a, b := signStream(t, sv), signStream(t, sv)
	waitFor(t, func() bool { return sv.s.budget.total.Load() == 2*recvReserve })
	c := signStream(t, sv)
	if err := c.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := sv.s.Stats().Received; n != 0 {
		t.Fatalf("a third stream was read while two held the client's room: %d received", n)
	}
	if sv.s.budget.waiting.Load() != 1 {
		t.Errorf("%d receivers wait for room; want 1", sv.s.budget.waiting.Load())
	}
	// Another client is read meanwhile.
	other, err := dialAs(t, sv, "other").Sign(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if r := recvN(t, other, 1)[0]; r.Code != pb.Code_CODE_OK {
		t.Errorf("the other client: %v", r)
	}
	if _, err := a.Recv(); err != nil { // the limits
		t.Fatal(err)
	}
	closeStream(t, a)
	if r := recvN(t, c, 1)[0]; r.Code != pb.Code_CODE_OK {
		t.Errorf("the third stream once the first ended: %v", r)
	}
	if _, err := b.Recv(); err != nil {
		t.Fatal(err)
	}
	closeStream(t, b)
	closeStream(t, c)
	closeStream(t, other)
	waitFor(t, func() bool { return sv.s.budget.total.Load() == 0 })
}

// TestRecvWaitEndsWithStream: a receiver waiting for room returns when
// its stream ends or the server stops, and lets nothing leak.
func TestRecvWaitEndsWithStream(t *testing.T) {
	sv := serve(t, Config{ClientMemory: MinClientMemory, MaxMemory: MinClientMemory})
	signStream(t, sv)
	signStream(t, sv)
	waitFor(t, func() bool { return sv.s.budget.total.Load() == 2*recvReserve })
	ctx, cancel := context.WithCancel(testContext(t))
	if _, err := sv.client.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return sv.s.budget.waiting.Load() == 1 })
	cancel()
	waitFor(t, func() bool { return sv.s.budget.waiting.Load() == 0 })
	// A SignOne call waits as well, and ends with the server.
	done := make(chan error, 1)
	go func() {
		_, err := sv.client.SignOne(testContext(t), &pb.SignRequest{})
		done <- err
	}()
	waitFor(t, func() bool { return sv.s.budget.waiting.Load() == 1 })
	sv.s.Stop(time.Second)
	if err := <-done; status.Code(err) != codes.Unavailable {
		t.Errorf("SignOne waiting for room as the server stops: %v", err)
	}
}

// TestMemoryBoundsChecked: New refuses a ClientMemory under
// MinClientMemory (a client alone could not read two messages at once)
// or over MaxMemory.
func TestMemoryBoundsChecked(t *testing.T) {
	for _, cfg := range []Config{
		{ClientMemory: MinClientMemory - 1},
		{ClientMemory: 8 << 20, MaxMemory: 4 << 20},
	} {
		cfg.Dir = testDir
		if _, err := New(cfg); !errors.Is(err, ErrMemoryBounds) {
			t.Errorf("New(ClientMemory %d, MaxMemory %d): %v; want ErrMemoryBounds", cfg.ClientMemory, cfg.MaxMemory, err)
		}
	}
}

// TestBatchTooManyCancels: a batch of more than MaxBatch cancels ends
// its stream InvalidArgument, before it is decoded (each packed cancel
// takes a byte on the wire and 8 decoded).
func TestBatchTooManyCancels(t *testing.T) {
	sv := serve(t, Config{})
	st := signStream(t, sv)
	if err := st.Send(&pb.RequestBatch{Cancel: make([]uint64, MaxBatch+1)}); err != nil {
		t.Fatal(err)
	}
	if b, err := recvResults(st); status.Code(err) != codes.InvalidArgument {
		t.Errorf("after a batch of too many cancels: %v, %v; want InvalidArgument", b, err)
	}
}

// TestCountBatch: the wire format is checked before a batch is decoded.
func TestCountBatch(t *testing.T) {
	for _, c := range []struct {
		data          []byte
		reqs, cancels int
		bad           bool
	}{
		{nil, 0, 0, false},
		{[]byte{0x0a, 0x00, 0x0a, 0x00}, 2, 0, false},
		{[]byte{0x12, 0x03, 0x01, 0x81, 0x01}, 0, 2, false},
		{[]byte{0x10, 0x05, 0x10, 0x06}, 0, 2, false},
		{[]byte{0x12, 0x01, 0x81}, 0, 0, true},
		{[]byte{0x0a, 0xff, 0xff, 0xff}, 0, 0, true},
		{[]byte{0x0a}, 0, 0, true},
	} {
		r, n, err := countBatch(c.data)
		if (err != nil) != c.bad || !c.bad && (r != c.reqs || n != c.cancels) {
			t.Errorf("countBatch(% x) = %d, %d, %v", c.data, r, n, err)
		}
	}
}
