//go:build linux

package remote

import (
	"context"
	"testing"
	"time"

	"github.com/seed-e1024768/async/engine"
	"github.com/seed-e1024768/async/internal/signpb"
)

// TestLateAnswerReachesNoOne: a request timed out by the sweeper and then
// reused (from the pool) for another operation is not completed by the
// late answer to its first send: the answer finds no entry under its ID
// and is dropped, and the second operation gets its own answer.
func TestLateAnswerReachesNoOne(t *testing.T) {
	e := &Engine{cfg: Config{Timeout: time.Hour}, slots: make(chan struct{}, 2)}
	e.k = newWaker(t, e)
	s := &signerConn{e: e, addr: "test"}
	e.join([]*signerConn{s})
	st := newStream(s)
	s.streams = []*stream{st}

	send := func(r *request) uint64 {
		e.slots <- struct{}{}
		r.Block()
		r.expires = monoNow() + int64(time.Hour)
		if !st.enqueue(r) {
			t.Fatal("enqueue refused")
		}
		st.fill()
		return r.id.Load()
	}
	ctx, cancel := context.WithCancel(context.Background())
	first := e.getRequest(ctx, "k", Ed25519, []byte("first"))
	id1 := send(first)
	cancel()
	due := st.sweep(monoNow(), nil)
	if len(due) != 1 || due[0] != first {
		t.Fatalf("sweep found %v", due)
	}
	e.finish(first, nil, context.Canceled)
	<-first.Ready()
	first.Take()
	first.Release()

	second := e.getRequest(context.Background(), "k", Ed25519, []byte("second"))
	id2 := send(second)
	if id1 == id2 {
		t.Fatal("a request sent twice under one ID")
	}
	if c := st.batch.Cancel; len(c) != 1 || c[0] != id1 {
		t.Errorf("the batch cancels %v; want the timed-out ID %d", c, id1)
	}
	st.deliver([]*signpb.SignResult{{Id: id1, Signature: []byte("late, for first")}}, nil)
	select {
	case <-second.Ready():
		t.Fatal("the late answer reached the reused request")
	default:
	}
	if e.stats.discarded.Load() != 1 {
		t.Fatalf("%d answers discarded; want the late one", e.stats.discarded.Load())
	}
	st.deliver([]*signpb.SignResult{{Id: id2, Signature: []byte("for second")}}, nil)
	<-second.Ready()
	second.Take()
	if string(second.sig) != "for second" || second.err != nil {
		t.Fatalf("second got %q, %v", second.sig, second.err)
	}
}

// TestGivenUpRequestExpires: a request whose caller gave up, and that its
// signer never answers, is dropped at its deadline, freeing its slot.
func TestGivenUpRequestExpires(t *testing.T) {
	e := &Engine{cfg: Config{Timeout: time.Hour}, slots: make(chan struct{}, 1)}
	e.k = newWaker(t, e)
	s := &signerConn{e: e, addr: "test"}
	e.join([]*signerConn{s})
	st := newStream(s)
	s.streams = []*stream{st}
	e.slots <- struct{}{}
	r := e.getRequest(context.Background(), "k", Ed25519, []byte("x"))
	r.expires = monoNow() + int64(time.Minute)
	r.Block()
	st.enqueue(r)
	st.fill()
	if !e.k.GiveUp(r) {
		t.Fatal("GiveUp: the request was completed")
	}
	for _, r := range st.sweep(monoNow(), nil) {
		t.Fatalf("swept %p before its deadline", r)
	}
	due := st.sweep(monoNow()+int64(2*time.Minute), nil)
	if len(due) != 1 || len(st.sent) != 0 || len(st.cancels) == 0 {
		t.Fatalf("after the deadline: swept %d, %d still sent, cancels %v", len(due), len(st.sent), st.cancels)
	}
	e.finish(due[0], nil, nil)
	if len(e.slots) != 0 {
		t.Error("the slot is still taken")
	}
}

// newWaker makes the engine.Waker of an Engine a test builds by hand.
func newWaker(t *testing.T, e *Engine) *engine.Waker {
	t.Helper()
	k, err := engine.New(engine.Config{Key: e, Name: "remote", EndsDone: true})
	if err != nil {
		t.Fatal(err)
	}
	return k
}
