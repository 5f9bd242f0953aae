package signer

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// TestDeadStreamOpLeavesInflight drives, by hand, the interleaving of
// item 1 of the signer audit: a stream dies with a request queued; a
// worker takes the request and lets it go; the op goes back to the pool
// and serves another stream's request; the dead stream's receiver then
// reads a cancel for its old request. The op must have left the dead
// stream's table before the pool, so that the cancel reaches nothing;
// and a cancel for an op of a dead stream must let go of it, not leak
// it (with what it holds of its client's bytes).
func TestDeadStreamOpLeavesInflight(t *testing.T) {
	keys, byName := loadTestKeys(t)
	s := testServer(keys)
	dead := s.newStream(s.budget.join("dead"))
	ops := dead.take(&pb.RequestBatch{Requests: ecdsaRequests(byName, 5, 1)}, nil)
	s.q.push(ops...)
	dead.die() // its sender returned
	s.run(s.q.pop())
	if n := len(dead.inflight); n != 0 {
		t.Errorf("a dead stream's op went back to the pool still in the stream's table (%d left)", n)
	}
	other := s.newStream(s.budget.join("other"))
	theirs := other.take(&pb.RequestBatch{Requests: ecdsaRequests(byName, 9, 1)}, nil)
	s.q.push(theirs...)
	dead.cancel([]uint64{5})
	if st := theirs[0].state.Load(); st != opQueued {
		t.Errorf("a dead stream's cancel reached another stream's request (state %d)", st)
	}
	s.run(s.q.pop())
	other.mu.Lock()
	if len(other.pending) != 1 || other.pending[0].res.Code != pb.Code_CODE_OK {
		t.Errorf("the other stream's answer: %v", other.pending)
	}
	other.mu.Unlock()

	// A cancel for a queued op of a dead stream.
	dead2 := s.newStream(s.budget.join("dead2"))
	ops = dead2.take(&pb.RequestBatch{Requests: ecdsaRequests(byName, 7, 1)}, nil)
	s.q.push(ops...)
	o := ops[0]
	dead2.die()
	dead2.cancel([]uint64{7})
	s.run(s.q.pop())
	if r := o.refs.Load(); r != 0 {
		t.Errorf("a canceled op of a dead stream is still held %d times: leaked", r)
	}
	if b := dead2.cl.bytes.Load(); b != 0 {
		t.Errorf("the dead stream's client still holds %d bytes", b)
	}
	// A request refused on a dead stream is let go too.
	ops = dead2.take(&pb.RequestBatch{Requests: ecdsaRequests(byName, 8, 2)[1:]}, nil)
	dup := dead2.take(&pb.RequestBatch{Requests: ecdsaRequests(byName, 8, 1)}, nil)
	if len(dup) != 1 {
		t.Fatalf("took %d", len(dup))
	}
	s.q.push(append(ops, dup...)...)
	s.run(s.q.pop())
	s.run(s.q.pop())
	if b := dead2.cl.bytes.Load(); b != 0 {
		t.Errorf("the dead stream's client still holds %d bytes", b)
	}
}

// TestCancelResetLoad is the load test of item 1 of the signer audit: a
// client sends requests, cancels them and resets its streams in a loop,
// while 128 other callers (on streams of their own and unary) send
// theirs: every one of theirs is answered, and Stop then returns at once
// rather than wait out its timeout.
func TestCancelResetLoad(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{Delay: time.Millisecond})
	bad := dialAs(t, sv, "reset-loop")
	const attack = 3 * time.Second
	ctx := testContext(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sctx, cancel := context.WithCancel(ctx)
				st, err := bad.Sign(sctx)
				if err != nil {
					cancel()
					continue
				}
				reqs := ecdsaRequests(byName, 0, 32)
				ids := make([]uint64, len(reqs))
				for j := range ids {
					ids[j] = uint64(j)
				}
				st.Send(&pb.RequestBatch{Requests: reqs})
				if (i+g)%2 == 0 {
					st.Send(&pb.RequestBatch{Cancel: ids})
				}
				cancel() // reset the stream
				st.Send(&pb.RequestBatch{Cancel: ids})
			}
		})
	}
	var (
		mu         sync.Mutex
		unanswered []string
		answered   int
	)
	fail := func(who string, err error) {
		mu.Lock()
		unanswered = append(unanswered, fmt.Sprintf("%s: %v", who, err))
		mu.Unlock()
	}
	deadline := time.Now().Add(attack)
	// 64 callers on streams of their own, 64 unary, of 8 identities,
	// one connection each (within MaxConnsPerClient and MaxHandshakes).
	conns := map[string]pb.SignerClient{}
	clientOf := func(name string) pb.SignerClient {
		if conns[name] == nil {
			conns[name] = dialAs(t, sv, name)
		}
		return conns[name]
	}
	var callers sync.WaitGroup
	for c := range 64 {
		client := sv.client
		if c%4 != 0 {
			client = clientOf(fmt.Sprintf("stream-caller-%d", c%4))
		}
		callers.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				st, err := client.Sign(cctx)
				if err != nil {
					cancel()
					fail("stream", err)
					return
				}
				if err := st.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, n, 1)}); err != nil {
					fail("stream", err)
				} else if b, err := recvResults(st); err != nil {
					fail("stream", err)
				} else if b.Results[0].Code != pb.Code_CODE_OK {
					fail("stream", fmt.Errorf("%v", b.Results[0]))
				} else {
					mu.Lock()
					answered++
					mu.Unlock()
				}
				st.CloseSend()
				cancel()
			}
		})
	}
	for c := range 64 {
		client := clientOf(fmt.Sprintf("unary-caller-%d", c%4))
		callers.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				r, err := client.SignOne(cctx, ecdsaRequests(byName, n, 1)[0])
				cancel()
				switch {
				case err != nil:
					fail("unary", err)
				case r.Code != pb.Code_CODE_OK:
					fail("unary", fmt.Errorf("%v", r))
				default:
					mu.Lock()
					answered++
					mu.Unlock()
				}
			}
		})
	}
	callers.Wait()
	close(stop)
	wg.Wait()
	if len(unanswered) > 0 {
		t.Errorf("%d of %d requests of other callers not answered; first: %s", len(unanswered), len(unanswered)+answered, unanswered[0])
	}
	t.Logf("%d requests of other callers answered", answered)
	// Everything is let go once the queue drains: nothing leaked.
	for start := time.Now(); sv.s.budget.total.Load() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the server still holds %d bytes after the attack", sv.s.budget.total.Load())
		}
	}
	start := time.Now()
	sv.s.Stop(10 * time.Second)
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Stop took %v after the attack", el)
	}
}
