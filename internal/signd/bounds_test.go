package signd

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// TestLimitsFirstBatch: a Sign stream's first batch, before any result,
// says the stream's bounds (the server's side of item 3 of the signer
// audit).
func TestLimitsFirstBatch(t *testing.T) {
	sv := serve(t, Config{})
	st := signStream(t, sv)
	b, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	l := b.GetLimits()
	if len(b.Results) != 0 || l.GetMaxInFlight() != MaxQueued || l.GetMaxInFlightBytes() != MaxQueuedBytes || l.GetMaxBatch() != MaxBatch || l.GetMaxBatchBytes() != MaxRecvMsgSize {
		t.Errorf("first batch %v", b)
	}
	closeStream(t, st)
}

// bigRequest is an ECDSA request whose key ID, of n bytes, makes it
// large; it names no key, and is answered CODE_UNKNOWN_KEY once signed.
func bigRequest(id uint64, n int, secret string) *pb.SignRequest {
	return &pb.SignRequest{Id: id, KeyId: secret + strings.Repeat("k", n-len(secret)), Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest("x")}
}

// TestBoundsCountWholeRequests guards item 2 of the signer audit: a
// client's and the server's bounds count each request's whole encoded
// size, key ID and unknown fields included, not only its payload, and
// what the client's streams have reserved to read their next message; a
// request past one is answered CODE_OVERLOADED at once, with a message
// that names the bound and holds nothing of the request; and another
// client is served meanwhile.
func TestBoundsCountWholeRequests(t *testing.T) {
	_, byName := loadTestKeys(t)
	const key = MaxRecvMsgSize - 2<<10 // bytes of key ID
	sv := serve(t, Config{Delay: time.Minute, ClientMemory: 6 << 20, MaxMemory: 8 << 20})
	const secret = "SECRET-KEY-ID-BYTES"
	check := func(r *pb.SignResult, err error, bound string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != pb.Code_CODE_OVERLOADED || !strings.Contains(r.Error, bound) || strings.Contains(r.Error, secret) {
			t.Errorf("request %d: %v %q; want CODE_OVERLOADED naming %q", r.Id, r.Code, r.Error, bound)
		}
	}
	held := func(want int64) {
		t.Helper()
		waitFor(t, func() bool { return sv.s.budget.total.Load() >= want })
	}
	// A stream queues a request of 1 MiB, then reserves what its next
	// message may cost; a second stream reserves as much: the client
	// holds about 5 MiB of its 6.
	a := signStream(t, sv)
	if err := a.Send(&pb.RequestBatch{Requests: []*pb.SignRequest{bigRequest(0, key, secret)}}); err != nil {
		t.Fatal(err)
	}
	held(key + recvReserve)
	signStream(t, sv)
	held(key + 2*recvReserve)
	ctx := testContext(t)
	r, err := sv.client.SignOne(ctx, bigRequest(1, key, secret))
	check(r, err, "client")
	// Unknown fields count too: a small request carrying 1 MiB of them.
	u := ecdsaRequests(byName, 2, 1)[0]
	u.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), make([]byte, key)))
	r, err = sv.client.SignOne(ctx, u)
	check(r, err, "client")
	// Another client is served; its own stream's reservation and a
	// large request reach the server's bound (8 MiB).
	other := dialAs(t, sv, "other")
	if _, err := other.Sign(ctx); err != nil {
		t.Fatal(err)
	}
	held(key + 3*recvReserve)
	r, err = other.SignOne(ctx, bigRequest(9, key, secret))
	check(r, err, "signer")
	sv.s.Stop(0)
}

// TestStreamBytesBound: past MaxQueuedBytes of requests in flight on one
// stream, counted by encoded size, a request is refused CODE_OVERLOADED,
// though its client and the server have room.
func TestStreamBytesBound(t *testing.T) {
	const key = 3 << 18
	sv := serve(t, Config{Delay: time.Minute})
	st := signStream(t, sv)
	n := MaxQueuedBytes/key + 1
	for i := range n {
		if err := st.Send(&pb.RequestBatch{Requests: []*pb.SignRequest{bigRequest(uint64(i), key, "")}}); err != nil {
			t.Fatal(err)
		}
	}
	r := recvN(t, st, 1)[uint64(n-1)]
	if r == nil || r.Code != pb.Code_CODE_OVERLOADED || !strings.Contains(r.Error, "stream") {
		t.Errorf("request past the stream's bytes: %v", r)
	}
	sv.s.Stop(0)
}

// TestDeadlineOf guards item 6 of the signer audit: deadlines are
// remaining times counted from arrival, the wall-clock deadline only
// without one, and none overflows.
func TestDeadlineOf(t *testing.T) {
	const arrived = time.Hour
	now := time.Now().UnixNano()
	for _, c := range []struct {
		name            string
		timeout, wall   int64
		want            time.Duration
		passed, forever bool
	}{
		{name: "none", want: 0, forever: true},
		{name: "timeout", timeout: 5e9, want: arrived + 5*time.Second},
		{name: "timeout wins", timeout: 5e9, wall: now - 1e9, want: arrived + 5*time.Second},
		{name: "largest timeout", timeout: math.MaxInt64, forever: true},
		{name: "negative timeout", timeout: -1, passed: true},
		{name: "most negative timeout", timeout: math.MinInt64, passed: true},
		{name: "wall clock past", wall: now - 1e9, passed: true},
		{name: "wall clock negative", wall: math.MinInt64, passed: true},
		{name: "wall clock after 2262", wall: math.MaxInt64, want: arrived + time.Duration(math.MaxInt64-now)},
	} {
		req := &pb.SignRequest{TimeoutNanos: c.timeout, DeadlineUnixNano: c.wall}
		d := deadlineOf(req, arrived)
		o := &op{deadline: d}
		switch {
		case c.passed:
			if !o.expired(arrived + 1) {
				t.Errorf("%s: deadline %v has not passed", c.name, d)
			}
		case c.forever:
			if d != 0 {
				t.Errorf("%s: deadline %v, want none", c.name, d)
			}
		case c.wall != 0 && c.timeout == 0:
			// The clock moved between now and deadlineOf's reading.
			if d > c.want || d < c.want-time.Second || o.expired(arrived+time.Hour) {
				t.Errorf("%s: deadline %v, want about %v", c.name, d, c.want)
			}
		default:
			if d != c.want || o.expired(d) || !o.expired(d+1) {
				t.Errorf("%s: deadline %v, want %v", c.name, d, c.want)
			}
		}
	}
	// The largest timeout from a server up long enough to count past
	// it would overflow: none, not one passed.
	if d := deadlineOf(&pb.SignRequest{TimeoutNanos: math.MaxInt64 - 10}, arrived); d != 0 {
		t.Errorf("timeout past the clock's range: deadline %v, want none", d)
	}
}

// TestTimeoutNanos: a request whose remaining time runs out while it
// waits is dropped, on a stream and unary; one with all the time there
// is, or a wall-clock deadline after 2262, is signed.
func TestTimeoutNanos(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{Delay: 300 * time.Millisecond})
	st := signStream(t, sv)
	reqs := ecdsaRequests(byName, 0, 4)
	reqs[0].TimeoutNanos = int64(50 * time.Millisecond)
	reqs[1].TimeoutNanos = math.MaxInt64
	reqs[2].DeadlineUnixNano = math.MaxInt64
	reqs[3].TimeoutNanos = int64(time.Minute)
	reqs[3].DeadlineUnixNano = time.Now().Add(-time.Minute).UnixNano() // ignored
	if err := st.Send(&pb.RequestBatch{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	got := recvN(t, st, 4)
	want := []pb.Code{pb.Code_CODE_DEADLINE_EXCEEDED, pb.Code_CODE_OK, pb.Code_CODE_OK, pb.Code_CODE_OK}
	for id, code := range want {
		if got[uint64(id)].Code != code {
			t.Errorf("request %d: %v, want %v", id, got[uint64(id)], code)
		}
	}
	closeStream(t, st)
	one := ecdsaRequests(byName, 0, 1)[0]
	one.TimeoutNanos = int64(50 * time.Millisecond)
	if r, err := sv.client.SignOne(testContext(t), one); err != nil || r.Code != pb.Code_CODE_DEADLINE_EXCEEDED {
		t.Errorf("SignOne past its timeout: %v, %v", r, err)
	}
	one.TimeoutNanos = math.MaxInt64
	if r, err := sv.client.SignOne(testContext(t), one); err != nil || r.Code != pb.Code_CODE_OK {
		t.Errorf("SignOne with the largest timeout: %v, %v", r, err)
	}
}
