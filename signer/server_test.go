package signer

import (
	"testing"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// algCases is every algorithm with the key that signs it and a payload.
var algCases = []struct {
	key     string
	alg     pb.Algorithm
	payload []byte
}{
	{"ecdsap256", pb.Algorithm_ECDSA_P256_SHA256, digest("ecdsa")},
	{"ed25519", pb.Algorithm_ED25519, []byte("an Ed25519 message")},
	{"rsa2048", pb.Algorithm_RSA_PKCS1_SHA256, digest("pkcs1")},
	{"rsa2048", pb.Algorithm_RSA_PSS_SHA256, digest("pss")},
}

func TestStreamSignsEveryAlgorithm(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{})
	ctx := testContext(t)
	st, err := sv.client.Sign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b pb.RequestBatch
	for i, c := range algCases {
		b.Requests = append(b.Requests, &pb.SignRequest{Id: uint64(i), KeyId: byName[c.key].id, Algorithm: c.alg, Payload: c.payload})
	}
	if err := st.Send(&b); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for len(seen) < len(algCases) {
		rb, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rb.Results {
			c := algCases[r.Id]
			if r.Code != pb.Code_CODE_OK {
				t.Fatalf("%v: %v %s", c.alg, r.Code, r.Error)
			}
			pk, err := sv.client.PublicKey(ctx, &pb.PublicKeyRequest{KeyId: byName[c.key].id})
			if err != nil {
				t.Fatal(err)
			}
			if err := verify(pk.Spki, c.alg, c.payload, r.Signature); err != nil {
				t.Errorf("%v: %v", c.alg, err)
			}
			seen[r.Id] = true
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
}
