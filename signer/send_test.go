package signer

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// sentBatches is a Sign stream's server side that records what is sent.
type sentBatches struct {
	grpc.BidiStreamingServer[pb.RequestBatch, pb.ResultBatch]
	sizes []int
	ids   []uint64
}

func (s *sentBatches) SendMsg(m any) error {
	b := m.(*pb.ResultBatch)
	s.sizes = append(s.sizes, proto.Size(b))
	for _, r := range b.Results {
		s.ids = append(s.ids, r.Id)
	}
	return nil
}

// TestSendSplitsLargeBatches: answers ready at once that would make a
// ResultBatch larger than a client takes go in several, each answer once.
func TestSendSplitsLargeBatches(t *testing.T) {
	st := &stream{s: &Server{}}
	const n = 3000
	ops := make([]*op, n)
	for i := range ops {
		ops[i] = &op{}
		ops[i].res.Id = uint64(i)
		ops[i].res.Signature = make([]byte, 512)
	}
	ss := &sentBatches{}
	var out pb.ResultBatch
	for rest := ops; len(rest) > 0; {
		var err error
		if rest, err = st.sendBatch(ss, &out, rest); err != nil {
			t.Fatal(err)
		}
	}
	if len(ss.sizes) < 2 {
		t.Errorf("%d answers of 512 bytes in %d batches", n, len(ss.sizes))
	}
	for _, size := range ss.sizes {
		if size > maxResultBatch {
			t.Errorf("a batch of %d bytes", size)
		}
	}
	for i, id := range ss.ids {
		if id != uint64(i) || len(ss.ids) != n {
			t.Fatalf("sent ids %v...", ss.ids[:min(len(ss.ids), 10)])
		}
	}
}
