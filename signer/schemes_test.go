package signer

import (
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"strings"
	"testing"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// algFamily is the key type each algorithm the wire knows signs with, by
// the prefix of the deployment's key names.
var algFamily = map[pb.Algorithm]string{
	pb.Algorithm_ECDSA_P256_SHA256: "ecdsa",
	pb.Algorithm_ECDSA_SHA384:      "ecdsa",
	pb.Algorithm_ECDSA_SHA512:      "ecdsa",
	pb.Algorithm_ED25519:           "ed25519",
	pb.Algorithm_RSA_PKCS1_SHA256:  "rsa",
	pb.Algorithm_RSA_PKCS1_SHA384:  "rsa",
	pb.Algorithm_RSA_PKCS1_SHA512:  "rsa",
	pb.Algorithm_RSA_PSS_SHA256:    "rsa",
	pb.Algorithm_RSA_PSS_SHA384:    "rsa",
	pb.Algorithm_RSA_PSS_SHA512:    "rsa",
}

// hashOf returns the digest of s by h.
func hashOf(h crypto.Hash, s string) []byte {
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384([]byte(s))
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512([]byte(s))
		return d[:]
	}
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// schemeCase is a request and how the signer must answer it.
type schemeCase struct {
	name string
	req  *pb.SignRequest
	code pb.Code
	err  string // the result's error, for a refusal
}

// schemeCases are, for every key of the deployment, a request of every
// algorithm the wire knows (and of numbers it does not): one with a
// payload of the algorithm's length, signed when the algorithm suits the
// key; and for every pair that suits, requests whose digest is not the
// hash's length (empty, a byte short or long, another hash's length).
func schemeCases(byName testKeys) []schemeCase {
	var cases []schemeCase
	for _, sk := range signingKeys {
		k := byName[sk.name]
		for alg := pb.Algorithm(-1); alg <= 12; alg++ {
			if alg == 12 {
				alg = 99
			}
			h := wantHash[alg]
			c := schemeCase{name: fmt.Sprintf("%s %v", sk.name, alg), code: pb.Code_CODE_OK}
			c.req = &pb.SignRequest{KeyId: k.id, Algorithm: alg, Payload: hashOf(h, c.name)}
			if alg == pb.Algorithm_ED25519 {
				c.req.Payload = []byte(c.name)
			}
			fam, known := algFamily[alg]
			switch {
			case !known:
				c.code, c.err = pb.Code_CODE_BAD_REQUEST, errAlgorithm
			case !strings.HasPrefix(sk.name, fam):
				c.code, c.err = pb.Code_CODE_BAD_REQUEST, errKeyMismatch
			}
			cases = append(cases, c)
			if c.code != pb.Code_CODE_OK || h == 0 {
				continue
			}
			for _, n := range []int{0, h.Size() - 1, h.Size() + 1, 32, 48, 64} {
				if n == h.Size() {
					continue
				}
				cases = append(cases, schemeCase{
					name: fmt.Sprintf("%s %v, digest of %d bytes", sk.name, alg, n),
					req:  &pb.SignRequest{KeyId: k.id, Algorithm: alg, Payload: make([]byte, n)},
					code: pb.Code_CODE_BAD_REQUEST, err: errDigestLen,
				})
			}
		}
	}
	return cases
}

// TestHandleEveryKeyAndAlgorithm: every pair of key (ECDSA P-256, P-384,
// P-521, RSA-2048, 3072, 4096, Ed25519) and algorithm that suits it signs,
// and the signature verifies with the key's public key under the
// algorithm's hash and padding; every other pair, unknown algorithm
// number, and digest not the hash's length is refused with
// CODE_BAD_REQUEST and the error that says why (item 1 of keyless for
// real sites).
func TestHandleEveryKeyAndAlgorithm(t *testing.T) {
	keys, byName := loadTestKeys(t)
	signed := 0
	for _, c := range schemeCases(byName) {
		code, sig, msg := handle(keys, c.req)
		if code != c.code || msg != c.err {
			t.Errorf("%s: %v %q, want %v %q", c.name, code, msg, c.code, c.err)
			continue
		}
		if code != pb.Code_CODE_OK {
			if sig != nil {
				t.Errorf("%s: refused with a signature", c.name)
			}
			continue
		}
		signed++
		if err := verify(byName.spki(c.req.KeyId), c.req.Algorithm, c.req.Payload, sig); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	// 3 ECDSA keys × 3 hashes, 3 RSA keys × 2 paddings × 3 hashes, Ed25519.
	if signed != 3*3+3*2*3+1 {
		t.Errorf("%d pairs signed, want 28", signed)
	}
}

// TestStreamEveryKeyAndAlgorithm: the requests of
// TestHandleEveryKeyAndAlgorithm sent in one batch on one stream are each
// answered, with its own code: a refused request fails alone while the
// rest of its batch is signed (item 1 of keyless for real sites).
func TestStreamEveryKeyAndAlgorithm(t *testing.T) {
	_, byName := loadTestKeys(t)
	sv := serve(t, Config{})
	st := signStream(t, sv)
	cases := schemeCases(byName)
	var b pb.RequestBatch
	for i, c := range cases {
		c.req.Id = uint64(i)
		b.Requests = append(b.Requests, c.req)
	}
	if err := st.Send(&b); err != nil {
		t.Fatal(err)
	}
	ok := 0
	for id, r := range recvN(t, st, len(cases)) {
		c := cases[id]
		if r.Code != c.code || r.Error != c.err {
			t.Errorf("%s: %v %q, want %v %q", c.name, r.Code, r.Error, c.code, c.err)
			continue
		}
		if r.Code == pb.Code_CODE_OK {
			ok++
			if err := verify(byName.spki(c.req.KeyId), c.req.Algorithm, c.req.Payload, r.Signature); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		}
	}
	closeStream(t, st)
	if s := sv.s.Stats(); s.Signed != uint64(ok) || s.Failed != uint64(len(cases)-ok) {
		t.Errorf("stats %v, want %d signed and %d failed", s, ok, len(cases)-ok)
	}
}

// spki returns the public key of the key id.
func (tk testKeys) spki(id string) []byte {
	for _, k := range tk {
		if k.id == id {
			return k.spki
		}
	}
	return nil
}

// BenchmarkSign measures one signature by each key of the deployment,
// through handle: the figures admit.go's costs come from.
func BenchmarkSign(b *testing.B) {
	keys, byName := loadTestKeys(b)
	for _, sk := range signingKeys {
		for _, alg := range []pb.Algorithm{pb.Algorithm_ECDSA_P256_SHA256, pb.Algorithm_ED25519, pb.Algorithm_RSA_PKCS1_SHA256, pb.Algorithm_RSA_PSS_SHA256} {
			if !strings.HasPrefix(sk.name, algFamily[alg]) {
				continue
			}
			req := &pb.SignRequest{KeyId: byName[sk.name].id, Algorithm: alg, Payload: digest("bench")}
			b.Run(sk.name+"/"+alg.String(), func(b *testing.B) {
				for b.Loop() {
					if code, _, msg := handle(keys, req); code != pb.Code_CODE_OK {
						b.Fatal(code, msg)
					}
				}
			})
		}
	}
}
