package signer

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// signStream opens a Sign stream.
func signStream(t *testing.T, sv *served) pb.Signer_SignClient {
	t.Helper()
	st, err := sv.client.Sign(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// recvN receives results until it has n, keyed by ID.
func recvN(t *testing.T, st pb.Signer_SignClient, n int) map[uint64]*pb.SignResult {
	t.Helper()
	got := map[uint64]*pb.SignResult{}
	for len(got) < n {
		b, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d results of %d: %v", len(got), n, err)
		}
		for _, r := range b.Results {
			if got[r.Id] != nil {
				t.Fatalf("two results for id %d", r.Id)
			}
			got[r.Id] = r
		}
	}
	return got
}

// recvResults receives the next batch that holds results, past the
// stream's limits.
func recvResults(st pb.Signer_SignClient) (*pb.ResultBatch, error) {
	for {
		b, err := st.Recv()
		if err != nil || len(b.Results) > 0 {
			return b, err
		}
	}
}

// closeStream closes the client's side and waits for the server to end
// the stream cleanly, with no more results.
func closeStream(t *testing.T, st pb.Signer_SignClient) {
	t.Helper()
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Recv(); err != io.EOF {
		t.Fatalf("after CloseSend: %v, %v; want EOF", b, err)
	}
}

func ecdsaRequests(byName testKeys, first, n int) []*pb.SignRequest {
	return requests(byName["ecdsap256"].id, pb.Algorithm_ECDSA_P256_SHA256, first, n)
}

// requests makes n requests, with IDs from first on, for key id and alg,
// over a digest.
func requests(id string, alg pb.Algorithm, first, n int) []*pb.SignRequest {
	reqs := make([]*pb.SignRequest, n)
	for i := range reqs {
		reqs[i] = &pb.SignRequest{Id: uint64(first + i), KeyId: id, Algorithm: alg, Payload: digest("m")}
	}
	return reqs
}

// TestCancelDropsQueued: with a delay holding every request in the
// queue, canceled ones are answered CODE_CANCELED at once and never
// signed; the rest are signed after the delay.
func TestCancelDropsQueued(t *testing.T) {
	_, byName := loadTestKeys(t)
	const delay = 2 * time.Second
	sv := serve(t, Config{Delay: delay})
	st := signStream(t, sv)
	start := time.Now()
	if err := st.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, 0, 10)}); err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.RequestBatch{Cancel: []uint64{0, 2, 4, 6, 8, 1000}}); err != nil {
		t.Fatal(err)
	}
	canceled := recvN(t, st, 5)
	if el := time.Since(start); el >= delay {
		t.Errorf("cancels answered after %v, not at once", el)
	}
	for id, r := range canceled {
		if id%2 != 0 || r.Code != pb.Code_CODE_CANCELED || r.Signature != nil {
			t.Errorf("id %d: %v", id, r)
		}
	}
	signed := recvN(t, st, 5)
	if el := time.Since(start); el < delay {
		t.Errorf("signed after %v, before the delay %v", el, delay)
	}
	for id, r := range signed {
		if id%2 != 1 || r.Code != pb.Code_CODE_OK {
			t.Errorf("id %d: %v", id, r)
		}
	}
	// Too late to cancel: answered already, the cancel is ignored.
	if err := st.Send(&pb.RequestBatch{Cancel: []uint64{1}}); err != nil {
		t.Fatal(err)
	}
	closeStream(t, st)
	s := sv.s.Stats()
	if s.Received != 10 || s.Signed != 5 || s.Canceled != 5 || s.Failed != 0 || s.BatchesIn != 3 || s.BatchesOut < 2 {
		t.Errorf("stats %v", s)
	}
}

// TestDeadlineExpires: a request whose deadline passes while it waits is
// dropped, not signed.
func TestDeadlineExpires(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{Delay: 300 * time.Millisecond})
	st := signStream(t, sv)
	reqs := ecdsaRequests(byName, 0, 2)
	reqs[0].DeadlineUnixNano = time.Now().Add(50 * time.Millisecond).UnixNano()
	reqs[1].DeadlineUnixNano = time.Now().Add(time.Minute).UnixNano()
	if err := st.Send(&pb.RequestBatch{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	got := recvN(t, st, 2)
	if got[0].Code != pb.Code_CODE_DEADLINE_EXCEEDED || got[1].Code != pb.Code_CODE_OK {
		t.Errorf("got %v", got)
	}
	closeStream(t, st)
	if s := sv.s.Stats(); s.Expired != 1 || s.Signed != 1 {
		t.Errorf("stats %v", s)
	}
}

// TestBadRequestsFailAlone: bad requests in a batch are answered with
// their codes while the good ones around them, and another client's,
// are signed.
func TestBadRequestsFailAlone(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{})
	st, other := signStream(t, sv), signStream(t, sv)
	reqs := ecdsaRequests(byName, 0, 6)
	reqs[1].KeyId = "unknown"
	reqs[2].Payload = make([]byte, 31)
	reqs[3].Algorithm = 42
	reqs[4].Algorithm = pb.Algorithm_ED25519
	if err := st.Send(&pb.RequestBatch{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	if err := other.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, 0, 3)}); err != nil {
		t.Fatal(err)
	}
	got := recvN(t, st, 6)
	want := []pb.Code{pb.Code_CODE_OK, pb.Code_CODE_UNKNOWN_KEY, pb.Code_CODE_BAD_REQUEST, pb.Code_CODE_BAD_REQUEST, pb.Code_CODE_BAD_REQUEST, pb.Code_CODE_OK}
	for id, code := range want {
		if r := got[uint64(id)]; r.Code != code || (code == pb.Code_CODE_OK) == (r.Error != "") {
			t.Errorf("id %d: %v, want %v", id, r, code)
		}
	}
	for id, r := range recvN(t, other, 3) {
		if r.Code != pb.Code_CODE_OK {
			t.Errorf("other client, id %d: %v", id, r)
		}
	}
	closeStream(t, st)
	closeStream(t, other)
	if s := sv.s.Stats(); s.Signed != 5 || s.Failed != 4 {
		t.Errorf("stats %v", s)
	}
}

// TestDuplicateID: a request reusing the ID of one in flight is refused;
// the first is answered, once.
func TestDuplicateID(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{Delay: 200 * time.Millisecond})
	st := signStream(t, sv)
	reqs := append(ecdsaRequests(byName, 7, 1), ecdsaRequests(byName, 7, 1)...)
	if err := st.Send(&pb.RequestBatch{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	var codes []pb.Code
	for len(codes) < 2 {
		b, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Results {
			codes = append(codes, r.Code)
		}
	}
	if codes[0] != pb.Code_CODE_BAD_REQUEST || codes[1] != pb.Code_CODE_OK {
		t.Errorf("codes %v, want the duplicate refused at once, then the first signed", codes)
	}
	// Once answered, the ID is free again.
	if err := st.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, 7, 1)}); err != nil {
		t.Fatal(err)
	}
	if r := recvN(t, st, 1)[7]; r.Code != pb.Code_CODE_OK {
		t.Errorf("reused id: %v", r)
	}
	closeStream(t, st)
}

// TestStreamQueueBounded: past MaxQueued requests in flight on a stream,
// more are refused at once (CODE_OVERLOADED) rather than queued.
func TestStreamQueueBounded(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{Delay: time.Minute})
	st := signStream(t, sv)
	const extra = 10
	reqs := ecdsaRequests(byName, 0, MaxQueued+extra)
	for len(reqs) > 0 {
		n := min(len(reqs), 1000)
		if err := st.Send(&pb.RequestBatch{Requests: reqs[:n]}); err != nil {
			t.Fatal(err)
		}
		reqs = reqs[n:]
	}
	for id, r := range recvN(t, st, extra) {
		if id < MaxQueued || r.Code != pb.Code_CODE_OVERLOADED {
			t.Errorf("id %d: %v", id, r)
		}
	}
	// Cancel them all rather than wait a minute.
	cancel := make([]uint64, MaxQueued)
	for i := range cancel {
		cancel[i] = uint64(i)
	}
	if err := st.Send(&pb.RequestBatch{Cancel: cancel}); err != nil {
		t.Fatal(err)
	}
	for id, r := range recvN(t, st, MaxQueued) {
		if r.Code != pb.Code_CODE_CANCELED {
			t.Fatalf("id %d: %v", id, r)
		}
	}
	closeStream(t, st)
}

// rawCodec sends bytes as they are, to send the server what no
// protobuf encoder would.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return v.([]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

// TestMalformedBatch: a stream that sends bytes that are no RequestBatch
// ends with an error status; other streams keep being served.
func TestMalformedBatch(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{})
	good := signStream(t, sv)
	desc := &grpc.StreamDesc{StreamName: "Sign", ServerStreams: true, ClientStreams: true}
	bad, err := sv.conn.NewStream(testContext(t), desc, pb.Signer_Sign_FullMethodName, grpc.ForceCodec(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.SendMsg([]byte{0x0a, 0xff, 0xff, 0xff}); err != nil {
		t.Fatal(err)
	}
	var out []byte
	err = bad.RecvMsg(&out) // the stream's limits
	if err == nil {
		err = bad.RecvMsg(&out)
	}
	if status.Code(err) != codes.Internal {
		t.Errorf("malformed batch: %v, want an Internal error status", err)
	}
	if err := good.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, 0, 2)}); err != nil {
		t.Fatal(err)
	}
	for id, r := range recvN(t, good, 2) {
		if r.Code != pb.Code_CODE_OK {
			t.Errorf("id %d: %v", id, r)
		}
	}
	closeStream(t, good)
}

func TestSignOne(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{})
	ctx := testContext(t)
	for _, c := range algCases {
		r, err := sv.client.SignOne(ctx, &pb.SignRequest{Id: 5, KeyId: byName[c.key].id, Algorithm: c.alg, Payload: c.payload})
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != pb.Code_CODE_OK || r.Id != 5 {
			t.Fatalf("%v: %v", c.alg, r)
		}
		if err := verify(byName[c.key].spki, c.alg, c.payload, r.Signature); err != nil {
			t.Error(err)
		}
	}
	r, err := sv.client.SignOne(ctx, &pb.SignRequest{KeyId: "nope"})
	if err != nil || r.Code != pb.Code_CODE_UNKNOWN_KEY {
		t.Errorf("unknown key: %v, %v", r, err)
	}
	if s := sv.s.Stats(); s.Received != 5 || s.Signed != 4 || s.Failed != 1 {
		t.Errorf("stats %v", s)
	}
	pk, err := sv.client.Stats(ctx, &pb.StatsRequest{})
	if err != nil || pk.Signed != 4 {
		t.Errorf("Stats RPC: %v, %v", pk, err)
	}
}

// TestSignOneCanceledWhileQueued: a call given up while its request
// waits drops the request.
func TestSignOneCanceledWhileQueued(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{Delay: time.Minute})
	ctx, cancel := context.WithTimeout(testContext(t), 200*time.Millisecond)
	defer cancel()
	_, err := sv.client.SignOne(ctx, ecdsaRequests(byName, 0, 1)[0])
	if status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("SignOne: %v, want DeadlineExceeded", err)
	}
	// The server's side of the call ends once it has dropped the
	// request; it counts it then.
	waitFor(t, func() bool { return sv.s.Stats().Canceled == 1 })
	if s := sv.s.Stats(); s.Signed != 0 {
		t.Errorf("stats %v", s)
	}
}

func TestPublicKeyUnknown(t *testing.T) {
	sv := serve(t, Config{})
	_, err := sv.client.PublicKey(testContext(t), &pb.PublicKeyRequest{KeyId: "nope"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("PublicKey of an unknown key: %v, want NotFound", err)
	}
	if ids := sv.s.KeyIDs(); len(ids) != len(signingKeys) {
		t.Errorf("KeyIDs = %v", ids)
	}
}

// TestStopFinishesInFlight: Stop answers the requests in flight, refuses
// new ones, ends the stream Unavailable and returns; Serve returns nil.
func TestStopFinishesInFlight(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{Delay: 500 * time.Millisecond})
	st := signStream(t, sv)
	if err := st.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, 0, 20)}); err != nil {
		t.Fatal(err)
	}
	// Wait until the server has them.
	waitFor(t, func() bool { return sv.s.Stats().Received == 20 })
	stopped := make(chan struct{})
	go func() {
		sv.s.Stop(10 * time.Second)
		close(stopped)
	}()
	for id, r := range recvN(t, st, 20) {
		if r.Code != pb.Code_CODE_OK {
			t.Errorf("id %d: %v", id, r)
		}
	}
	if _, err := recvResults(st); status.Code(err) != codes.Unavailable {
		t.Errorf("stream after Stop: %v, want Unavailable", err)
	}
	<-stopped
	if err := <-sv.errc; err != nil {
		t.Errorf("Serve: %v", err)
	}
	sv.errc <- nil // for the cleanup
}

// TestStopTimeout: Stop waits for requests in flight no longer than its
// timeout.
func TestStopTimeout(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{Delay: time.Minute})
	st := signStream(t, sv)
	if err := st.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, 0, 3)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return sv.s.Stats().Received == 3 })
	start := time.Now()
	sv.s.Stop(200 * time.Millisecond)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Stop took %v", el)
	}
	if _, err := recvResults(st); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("stream after a hard stop: %v, want an error", err)
	}
}

// TestBatchTooLarge: a batch of more than MaxBatch requests ends its
// stream InvalidArgument, before any of it is queued.
func TestBatchTooLarge(t *testing.T) {
	sv := serve(t, Config{Delay: time.Minute})
	st := signStream(t, sv)
	// Requests as small as can be, to keep under MaxRecvMsgSize.
	reqs := make([]*pb.SignRequest, MaxBatch+1)
	for i := range reqs {
		reqs[i] = &pb.SignRequest{Id: uint64(i)}
	}
	if err := st.Send(&pb.RequestBatch{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	if b, err := recvResults(st); status.Code(err) != codes.InvalidArgument {
		t.Errorf("after a batch too large: %v, %v; want InvalidArgument", b, err)
	}
	if s := sv.s.Stats(); s.Signed != 0 || s.Failed != MaxBatch+1 {
		t.Errorf("stats %v", s)
	}
}

// TestDelay: no answer leaves before Delay after its request arrived,
// for requests arriving at different times, on a stream and unary.
func TestDelay(t *testing.T) {
	_, byName := loadTestKeys(t)
	const delay = 300 * time.Millisecond
	sv := serve(t, Config{Delay: delay, Workers: 1})
	st := signStream(t, sv)
	// Answers are timed as they come, by a receiver of their own.
	type arrival struct {
		r  *pb.SignResult
		at time.Time
	}
	arrivals := make(chan arrival, 3)
	go func() {
		for range 3 {
			b, err := recvResults(st)
			if err != nil {
				close(arrivals)
				return
			}
			for _, r := range b.Results {
				arrivals <- arrival{r, time.Now()}
			}
		}
	}()
	var sent [3]time.Time
	for i := range sent {
		sent[i] = time.Now()
		if err := st.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, i, 1)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for range 3 {
		a, ok := <-arrivals
		if !ok {
			t.Fatal("stream failed")
		}
		if el := a.at.Sub(sent[a.r.Id]); a.r.Code != pb.Code_CODE_OK || el < delay {
			t.Errorf("id %d: %v after %v", a.r.Id, a.r.Code, el)
		}
	}
	start := time.Now()
	if r, err := sv.client.SignOne(testContext(t), ecdsaRequests(byName, 0, 1)[0]); err != nil || r.Code != pb.Code_CODE_OK {
		t.Errorf("SignOne: %v, %v", r, err)
	}
	if el := time.Since(start); el < delay {
		t.Errorf("SignOne answered after %v", el)
	}
	closeStream(t, st)
}

// The delay stands for a round trip to a distant key: the request is
// signed halfway through it, and its answer held until the delay has
// passed, so that signing adds nothing to the latency the delay sets.
func TestDelaySignsHalfway(t *testing.T) {
	_, byName := loadTestKeys(t)
	const delay = 600 * time.Millisecond
	sv := serve(t, Config{Delay: delay, Workers: 1})
	st := signStream(t, sv)
	start := time.Now()
	if err := st.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return sv.s.Stats().Signed == 1 })
	signedAt := time.Since(start)
	b, err := recvResults(st)
	answeredAt := time.Since(start)
	if err != nil || len(b.Results) != 1 || b.Results[0].Code != pb.Code_CODE_OK {
		t.Fatalf("Recv = %v, %v", b, err)
	}
	if signedAt < delay/2 || signedAt > delay*9/10 {
		t.Errorf("signed after %v; want about %v (half the delay)", signedAt, delay/2)
	}
	if answeredAt < delay {
		t.Errorf("answered after %v; want no sooner than %v", answeredAt, delay)
	}
	closeStream(t, st)
}

// Answers held for their delay come out in the order they come due, even
// when signing put them in out of order.
func TestQueuePushDueOrder(t *testing.T) {
	q := newQueue(time.Now(), 0, true)
	defer q.close()
	now := time.Since(q.base)
	dues := []time.Duration{30, 10, 20, 40, 5} // ms after now
	for _, d := range dues {
		q.pushDue(&op{due: now + d*time.Millisecond})
	}
	var got []time.Duration
	for range dues {
		got = append(got, (q.pop().due-now)/time.Millisecond)
	}
	if want := []time.Duration{5, 10, 20, 30, 40}; !slices.Equal(got, want) {
		t.Errorf("popped in order %v; want %v", got, want)
	}
}
