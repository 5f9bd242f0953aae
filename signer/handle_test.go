package signer

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"testing"
	"time"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

func TestHandleBadInputs(t *testing.T) {
	keys, byName := loadTestKeys(t)
	ec, ed, rsa := byName["ecdsap256"].id, byName["ed25519"].id, byName["rsa2048"].id
	// A key ID no key has: ec's with its first digit changed (writing
	// "00" over it was ec itself, now and then).
	unknown := "0" + ec[1:]
	if ec[0] == '0' {
		unknown = "1" + ec[1:]
	}
	for _, c := range []struct {
		name string
		req  *pb.SignRequest
		code pb.Code
	}{
		{"unknown key", &pb.SignRequest{KeyId: unknown, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest("x")}, pb.Code_CODE_UNKNOWN_KEY},
		{"no key", &pb.SignRequest{Algorithm: pb.Algorithm_ED25519}, pb.Code_CODE_UNKNOWN_KEY},
		{"unspecified algorithm", &pb.SignRequest{KeyId: ec, Payload: digest("x")}, pb.Code_CODE_BAD_REQUEST},
		{"unknown algorithm", &pb.SignRequest{KeyId: ec, Algorithm: 99, Payload: digest("x")}, pb.Code_CODE_BAD_REQUEST},
		{"ECDSA with Ed25519 key", &pb.SignRequest{KeyId: ed, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest("x")}, pb.Code_CODE_BAD_REQUEST},
		{"Ed25519 with RSA key", &pb.SignRequest{KeyId: rsa, Algorithm: pb.Algorithm_ED25519, Payload: []byte("x")}, pb.Code_CODE_BAD_REQUEST},
		{"PSS with ECDSA key", &pb.SignRequest{KeyId: ec, Algorithm: pb.Algorithm_RSA_PSS_SHA256, Payload: digest("x")}, pb.Code_CODE_BAD_REQUEST},
		{"short ECDSA digest", &pb.SignRequest{KeyId: ec, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest("x")[:31]}, pb.Code_CODE_BAD_REQUEST},
		{"long ECDSA digest", &pb.SignRequest{KeyId: ec, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: make([]byte, 64)}, pb.Code_CODE_BAD_REQUEST},
		{"empty PKCS1 digest", &pb.SignRequest{KeyId: rsa, Algorithm: pb.Algorithm_RSA_PKCS1_SHA256}, pb.Code_CODE_BAD_REQUEST},
		{"long PSS digest", &pb.SignRequest{KeyId: rsa, Algorithm: pb.Algorithm_RSA_PSS_SHA256, Payload: make([]byte, 33)}, pb.Code_CODE_BAD_REQUEST},
		{"oversized message", &pb.SignRequest{KeyId: ed, Algorithm: pb.Algorithm_ED25519, Payload: make([]byte, MaxMessage+1)}, pb.Code_CODE_BAD_REQUEST},
		{"largest message", &pb.SignRequest{KeyId: ed, Algorithm: pb.Algorithm_ED25519, Payload: make([]byte, MaxMessage)}, pb.Code_CODE_OK},
		{"empty message", &pb.SignRequest{KeyId: ed, Algorithm: pb.Algorithm_ED25519}, pb.Code_CODE_OK},
	} {
		code, sig, msg := handle(keys, c.req)
		if code != c.code {
			t.Errorf("%s: %v %q, want %v", c.name, code, msg, c.code)
		}
		if (code == pb.Code_CODE_OK) != (sig != nil) || (code == pb.Code_CODE_OK) != (msg == "") {
			t.Errorf("%s: %v with signature %x and error %q", c.name, code, sig, msg)
		}
	}
}

// FuzzHandleRequest: whatever a request holds, handle answers it
// without panicking, a signature only with CODE_OK, and every signature
// verifies and holds no private key material; deadline gives it a
// deadline without overflowing, whatever its times (item 6 of the
// signer audit).
func FuzzHandleRequest(f *testing.F) {
	keys, byName := loadTestKeys(f)
	var ids []string
	for _, sk := range signingKeys {
		ids = append(ids, byName[sk.name].id)
	}
	for i, c := range algCases {
		f.Add(uint8(i%len(ids)), "", int32(c.alg), c.payload, int64(0))
	}
	for _, k := range []uint8{0, 1, 2} {
		for alg := range int32(6) {
			f.Add(k, "", alg, digest("seed"), int64(0))
			f.Add(k, "", alg, []byte{}, int64(1))
		}
	}
	f.Add(uint8(3), "nonsense", int32(1), digest("x"), int64(-1))
	f.Add(uint8(1), "", int32(2), make([]byte, MaxMessage+1), int64(0))
	f.Fuzz(func(t *testing.T, which uint8, keyID string, alg int32, payload []byte, deadline int64) {
		if int(which) < len(ids) {
			keyID = ids[which]
		}
		req := &pb.SignRequest{KeyId: keyID, Algorithm: pb.Algorithm(alg), Payload: payload, DeadlineUnixNano: deadline, TimeoutNanos: deadline}
		arrived := time.Duration(deadline & (1<<62 - 1))
		switch d := deadlineOf(req, arrived); {
		case deadline < 0 && (d == 0 || d > arrived+1):
			t.Fatalf("timeout %d arriving at %d: deadline %d, want passed", deadline, arrived, d)
		case deadline > 0 && d != 0 && d < arrived:
			t.Fatalf("timeout %d arriving at %d: deadline %d, overflowed", deadline, arrived, d)
		}
		code, sig, msg := handle(keys, req)
		if code != pb.Code_CODE_OK {
			if sig != nil || msg == "" {
				t.Fatalf("%v with signature %x and error %q", code, sig, msg)
			}
			return
		}
		k := keys[keyID]
		if k == nil {
			t.Fatalf("signed a request it should have refused: %v", req)
		}
		if err := verify(k.spki, req.Algorithm, payload, sig); err != nil {
			t.Fatalf("%v: %v", req.Algorithm, err)
		}
		for _, secret := range privateBytes(k) {
			if len(secret) >= 16 && bytes.Contains(sig, secret[:16]) {
				t.Fatalf("signature holds private key material")
			}
		}
	})
}

// privateBytes returns the secrets of k.
func privateBytes(k *key) [][]byte {
	switch s := k.signer.(type) {
	case *ecdsa.PrivateKey:
		b, _ := s.Bytes()
		return [][]byte{b}
	case ed25519.PrivateKey:
		return [][]byte{s.Seed()}
	case *rsa.PrivateKey:
		return [][]byte{s.D.Bytes(), s.Primes[0].Bytes(), s.Primes[1].Bytes()}
	}
	return nil
}
