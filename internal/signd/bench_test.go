package signd

import (
	"testing"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// BenchmarkStreamECDSA pipelines ECDSA P-256 requests over one
// loopback mutual-TLS stream to a server in this process (batches of
// 64, up to 1024 in flight): ns/op is the time per signature with client
// and server sharing the machine. For the signer's CPU time alone, see
// BenchmarkServeECDSA in cmd/asyncsignd.
func BenchmarkStreamECDSA(b *testing.B) {
	_, byName := loadTestKeys(b)
	sv := serve(b, Config{})
	st, err := sv.client.Sign(testContext(b))
	if err != nil {
		b.Fatal(err)
	}
	id := byName["ecdsap256"].id
	payload := digest("bench")
	const batch, window = 64, 1024
	credit := make(chan int, window/batch)
	for range window / batch {
		credit <- batch
	}
	errc := make(chan error, 1)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		var rb pb.RequestBatch
		for sent := 0; sent < b.N; {
			<-credit
			n := min(batch, b.N-sent)
			rb.Requests = rb.Requests[:0]
			for i := range n {
				rb.Requests = append(rb.Requests, &pb.SignRequest{Id: uint64(sent + i), KeyId: id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: payload})
			}
			if err := st.Send(&rb); err != nil {
				errc <- err
				return
			}
			sent += n
		}
		errc <- nil
	}()
	for got, owed := 0, 0; got < b.N; {
		rb, err := st.Recv()
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rb.Results {
			if r.Code != pb.Code_CODE_OK {
				b.Fatal(r)
			}
		}
		got += len(rb.Results)
		for owed += len(rb.Results); owed >= batch; owed -= batch {
			credit <- batch
		}
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	closeStream(b, st)
}
