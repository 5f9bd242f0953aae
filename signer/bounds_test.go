package signer

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

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
// what its streams have reserved to read their next message; a request
// past one is answered CODE_OVERLOADED at once, with a message that
// names the bound and holds nothing of the request; and another client
// is served meanwhile.
func TestBoundsCountWholeRequests(t *testing.T) {
	const (
		clientMem = 9 << 19 // 4.5 MiB
		n         = 4000    // requests in a batch
		key       = 200     // bytes of key ID
	)
	sv := serve(t, Config{Delay: time.Minute, ClientMemory: clientMem, MaxMemory: 7 << 20})
	const secret = "SECRET-KEY-ID-BYTES"
	batch := func() *pb.RequestBatch {
		var b pb.RequestBatch
		for i := range n {
			b.Requests = append(b.Requests, bigRequest(uint64(i), key, secret))
		}
		return &b
	}
	// A batch of 4,000 small requests: each holds its size and a fixed
	// overhead; those past the client's bound are refused, and the
	// client then holds, with what its stream reserves to read on, no
	// more than its bound.
	size := int64(proto.Size(bigRequest(0, key, secret)))
	// held is what the client id holds, in bytes.
	held := func(id string) int64 {
		sv.s.budget.mu.Lock()
		defer sv.s.budget.mu.Unlock()
		if c := sv.s.budget.clients[id]; c != nil {
			return c.bytes.Load()
		}
		return 0
	}
	// queued is the number of requests in the server's queue: with a
	// Delay of a minute, every request taken stays there.
	queued := func() int {
		sv.s.q.mu.Lock()
		defer sv.s.q.mu.Unlock()
		return sv.s.q.n + sv.s.q.ready
	}
	// check sends a batch on st and returns how many of its requests
	// were refused. The first refusal must name bounds[0], and each one
	// one of bounds.
	check := func(st pb.Signer_SignClient, bounds ...string) int {
		t.Helper()
		before, queuedBefore := sv.s.Stats(), queued()
		if err := st.Send(batch()); err != nil {
			t.Fatal(err)
		}
		// Wait until every request is queued or refused. Both counts
		// only grow, so their sum reaches n only then. Neither Received
		// (counted as a chunk of the batch is started) nor what the
		// client holds (which includes the stream's reservation, not
		// yet charged to requests) says so: a wait on those once ended
		// while the batch was still being taken.
		waitFor(t, func() bool {
			return int(sv.s.Stats().Failed-before.Failed)+queued()-queuedBefore == n
		})
		want := int(sv.s.Stats().Failed - before.Failed)
		if want == 0 {
			t.Fatalf("none refused for the %s's bound", bounds[0])
		}
		got := recvN(t, st, want)
		first := uint64(math.MaxUint64)
		for _, r := range got {
			first = min(first, r.Id)
			if r.Code != pb.Code_CODE_OVERLOADED || !slices.ContainsFunc(bounds, func(b string) bool { return strings.Contains(r.Error, b) }) || strings.Contains(r.Error, secret) {
				t.Fatalf("request %d: %v %q; want CODE_OVERLOADED naming one of %q", r.Id, r.Code, r.Error, bounds)
			}
		}
		if r := got[first]; !strings.Contains(r.Error, bounds[0]) {
			t.Errorf("the first refusal, of request %d: %q; want it to name %q", r.Id, r.Error, bounds[0])
		}
		return want
	}
	a := signStream(t, sv)
	refused := check(a, "client")
	t.Logf("%d of %d refused for the client's bound", refused, n)
	if got, want := held(DefaultClientName), int64(n-refused)*(size+opOverhead); got < want || got > clientMem {
		t.Errorf("the client holds %d bytes; want at least %d for its requests, at most its bound %d", got, want, clientMem)
	}
	// Another client is served, until the server's bound (7 MiB).
	other := dialAs(t, sv, "other")
	st, err := other.Sign(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil { // the limits
		t.Fatal(err)
	}
	// It is refused first for the server's bound. Each refusal holds
	// its answer's overhead until the answer is sent, so a sender slow
	// to send them (on a busy machine) lets the refusals fill the
	// client's own bound too.
	t.Logf("%d of %d of the other client's refused, first for the server's bound", check(st, "signer", "client"), n)
	sv.s.Stop(0)
}

// TestBoundsCountUnknownFields: a request is charged its whole encoded
// size, unknown fields included (item 2 of the signer audit).
func TestBoundsCountUnknownFields(t *testing.T) {
	keys, byName := loadTestKeys(t)
	s := testServer(keys)
	st := s.newStream(s.budget.join("u"))
	r := ecdsaRequests(byName, 0, 1)[0]
	r.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 99, protowire.BytesType), make([]byte, 100<<10)))
	if ops := st.take(&pb.RequestBatch{Requests: []*pb.SignRequest{r}}, nil); len(ops) != 1 {
		t.Fatalf("took %d", len(ops))
	}
	if got, want := st.cl.bytes.Load(), int64(proto.Size(r))+opOverhead; got != want || want < 100<<10 {
		t.Errorf("charged %d; want %d", got, want)
	}
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
