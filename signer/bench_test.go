package signer

import (
	"testing"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// countSends is a Sign stream's server side that only counts answers.
type countSends struct {
	sentBatches
	n int
}

func (c *countSends) SendMsg(m any) error {
	c.n += len(m.(*pb.ResultBatch).Results)
	return nil
}

// BenchmarkServerPath runs requests through the server's own part of a
// Sign stream, on one goroutine, without the network or the signing:
// take a batch, queue it, run each op (an unknown key: no crypto),
// deliver, send. Its allocs/op is what the server adds to a request
// beyond what the protobuf decoding and the crypto allocate: zero.
func BenchmarkServerPath(b *testing.B) {
	keys, _ := loadTestKeys(b)
	s := testServer(keys)
	st := s.newStream(s.budget.join("bench"))
	const batch = 64
	var rb pb.RequestBatch
	for i := range batch {
		rb.Requests = append(rb.Requests, &pb.SignRequest{Id: uint64(i), KeyId: "none", Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest("x")})
	}
	ss := &countSends{}
	var (
		out     pb.ResultBatch
		ops     []*op
		pending []*op
	)
	b.ReportAllocs()
	for b.Loop() {
		ops = st.take(&rb, ops[:0])
		s.q.push(ops...)
		for range ops {
			s.run(s.q.pop())
		}
		st.mu.Lock()
		pending, st.pending = st.pending, pending[:0]
		st.mu.Unlock()
		for rest := pending; len(rest) > 0; {
			rest, _ = st.sendBatch(ss, &out, rest)
		}
		for _, o := range pending {
			o.release()
		}
		clear(pending)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(ss.n), "ns/request")
	if ss.n != b.N*batch {
		b.Fatalf("%d answers for %d requests", ss.n, b.N*batch)
	}
}
