package signer

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

func rsaRequests(byName testKeys, first, n int) []*pb.SignRequest {
	return requests(byName["rsa2048"].id, pb.Algorithm_RSA_PSS_SHA256, first, n)
}

// TestFairShareOrder guards item 5 of the signer audit, by the order the
// queue hands requests out in: behind one client's backlog of 1,000
// RSA requests, another client's ECDSA request comes out at once (the
// next turn), and while both have requests the ECDSA client gets as
// much signing time as the other (32 ECDSA signatures, cost 4 each, per
// RSA one, cost 128).
func TestFairShareOrder(t *testing.T) {
	keys, byName := loadTestKeys(t)
	s := testServer(keys)
	flood := s.newStream(s.budget.join("flood"))
	s.q.push(flood.take(&pb.RequestBatch{Requests: rsaRequests(byName, 0, 1000)}, nil)...)
	// The first RSA request is being signed when the other arrives.
	first := s.q.pop()
	other := s.newStream(s.budget.join("other"))
	s.q.push(other.take(&pb.RequestBatch{Requests: ecdsaRequests(byName, 0, 100)}, nil)...)
	var order []string
	for range 200 {
		o := s.q.pop()
		order = append(order, o.cl.id)
		s.run(o)
	}
	s.run(first)
	if i := slices.Index(order, "other"); i < 0 || i > 1 {
		t.Errorf("the other client's first request came out after %d of the backlog", i)
	}
	// Shares while both have requests: the first 100 of the other's
	// come out with 100/32 (about 3 or 4) of the flooder's.
	last, others := len(order), 0
	for i, who := range order {
		if who == "other" {
			last, others = i, others+1
		}
	}
	if n := last + 1 - 100; others < 100 || n > 5 {
		t.Errorf("%d of the flooder's requests came out before the other's 100: %v", n, order[:last+1])
	}
	// Let the rest go: a stream dies with its requests queued.
	flood.die()
	other.die()
	for s.q.ready > 0 || s.q.n > 0 {
		s.run(s.q.pop())
	}
}

// TestFairShareServed: the same end to end, counted by what is answered
// rather than by the clock: one worker, a client with 600 RSA requests
// queued on two streams, another client's single ECDSA request is
// answered while most of the backlog is still waiting.
func TestFairShareServed(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{Workers: 1})
	flood := dialAs(t, sv, "flood")
	other := dialAs(t, sv, "other")
	ctx := testContext(t)
	var answered atomic.Int64
	var wg sync.WaitGroup
	for i := range 2 {
		st, err := flood.Sign(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(&pb.RequestBatch{Requests: rsaRequests(byName, 0, 300)}); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for n := 0; n < 300; {
				b, err := st.Recv()
				if err != nil {
					t.Errorf("flood stream %d: %v", i, err)
					return
				}
				n += len(b.Results)
				answered.Add(int64(len(b.Results)))
			}
			st.CloseSend()
		})
	}
	waitFor(t, func() bool { return sv.s.Stats().Received == 600 })
	r, err := other.SignOne(ctx, ecdsaRequests(byName, 0, 1)[0])
	if err != nil || r.Code != pb.Code_CODE_OK {
		t.Fatalf("SignOne: %v, %v", r, err)
	}
	if n := answered.Load(); n > 60 {
		t.Errorf("the other client's request was answered after %d of the flooder's 600", n)
	}
	wg.Wait()
}

// BenchmarkFairShare measures item 5 of the signer audit: one client
// keeps 16,384 RSA-2048 PSS requests queued (on four streams, MaxQueued
// each), while another signs ECDSA P-256 digests one at a time, b.N of
// them. It reports the second client's latency (p50, p99) and the
// flooder's RSA signatures per second meanwhile.
//
//	go test -run XXX -bench FairShare -benchtime 400x ./signer
func BenchmarkFairShare(b *testing.B) {
	_, byName := loadTestKeys(b)
	sv := serve(b, Config{})
	flood := dialAs(b, sv, "flood")
	other := dialAs(b, sv, "other")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	fctx, stopFlood := context.WithCancel(ctx)
	var floodSigned atomic.Int64
	var wg sync.WaitGroup
	const perStream = MaxQueued
	for range 4 {
		st, err := flood.Sign(fctx)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			next := 0
			send := func(n int) bool {
				err := st.Send(&pb.RequestBatch{Requests: rsaRequests(byName, next, n)})
				next += n
				return err == nil
			}
			if !send(perStream) {
				return
			}
			for {
				rb, err := st.Recv()
				if err != nil {
					return
				}
				n := 0
				for _, r := range rb.Results {
					if r.Code == pb.Code_CODE_OK {
						n++
					}
				}
				floodSigned.Add(int64(n))
				if len(rb.Results) > 0 && !send(len(rb.Results)) {
					return
				}
			}
		})
	}
	waitFor(b, func() bool { return sv.s.Stats().Received >= 4*perStream })
	st, err := other.Sign(ctx)
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	f0, t0 := floodSigned.Load(), time.Now()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := st.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, i, 1)}); err != nil {
			b.Fatal(err)
		}
		rb, err := recvResults(st)
		if err != nil || rb.Results[0].Code != pb.Code_CODE_OK {
			b.Fatalf("%v, %v", rb, err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	f1, el := floodSigned.Load(), time.Since(t0)
	stopFlood()
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(f1-f0)/el.Seconds(), "flood-rsa/s")
	b.ReportMetric(float64(b.N)/el.Seconds(), "other-ecdsa/s")
}
