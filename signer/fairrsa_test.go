package signer

import (
	"slices"
	"testing"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// TestFairShareCostlyKey: a request that costs more than a turn (an
// RSA-4096 signature costs nearly seven) is signed once its client has
// saved up the credit, and the shares stay equal in cost: behind one
// client's backlog of RSA-4096 requests another client's ECDSA request
// comes out at once, and about 215 ECDSA signatures come out per
// RSA-4096 one (item 1 of keyless for real sites; TestFairShareOrder
// guards the bound on the quantum itself, which a deployment with an
// RSA-4096 key raised to seven RSA-2048 signatures per turn).
func TestFairShareCostlyKey(t *testing.T) {
	keys, byName := loadTestKeys(t)
	s := testServer(keys)
	flood := s.newStream(s.budget.join("flood"))
	s.q.push(flood.take(&pb.RequestBatch{Requests: requests(byName["rsa4096"].id, pb.Algorithm_RSA_PKCS1_SHA256, 0, 20)}, nil)...)
	first := s.q.pop()
	other := s.newStream(s.budget.join("other"))
	s.q.push(other.take(&pb.RequestBatch{Requests: ecdsaRequests(byName, 0, 300)}, nil)...)
	var order []string
	for range 300 {
		o := s.q.pop()
		order = append(order, o.cl.id)
		s.run(o)
	}
	s.run(first)
	if i := slices.Index(order, "other"); i != 0 {
		t.Errorf("the other client's first request came out after %d of the backlog", i)
	}
	// Each RSA-4096 signature costs 860, the other's 4: once the
	// flooder's first is out, its next comes after about 215 of the
	// other's (its credit saved up over 7 turns of 128), and only then.
	floods := []int{}
	for i, who := range order {
		if who == "flood" {
			floods = append(floods, i)
		}
	}
	if len(floods) != 1 || floods[0] < 200 || floods[0] > 240 {
		t.Errorf("the flooder's requests came out at %v of 300, want one, after about 215 of the other's", floods)
	}
	flood.die()
	other.die()
	for s.q.ready > 0 || s.q.n > 0 {
		s.run(s.q.pop())
	}
}
