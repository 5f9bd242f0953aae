package remote

import (
	"crypto"
	"crypto/sha256"
	"fmt"
	"strconv"

	"github.com/seed-e1024768/async/internal/signpb"
)

// Algorithm is a signature algorithm the signer offers. Its values are
// those of the wire protocol. The payload of every algorithm but Ed25519
// is a digest exactly as long as its hash's output (Hash).
type Algorithm int32

const (
	// ECDSAP256SHA256 is ECDSA over a SHA-256 digest, on the key's curve
	// (P-256, P-384 or P-521: the name predates the others). The
	// signature is ASN.1 DER, as for every ECDSA algorithm.
	ECDSAP256SHA256 = Algorithm(signpb.Algorithm_ECDSA_P256_SHA256)
	// ECDSASHA384 is ECDSA over a SHA-384 digest, on the key's curve.
	ECDSASHA384 = Algorithm(signpb.Algorithm_ECDSA_SHA384)
	// ECDSASHA512 is ECDSA over a SHA-512 digest, on the key's curve.
	ECDSASHA512 = Algorithm(signpb.Algorithm_ECDSA_SHA512)
	// Ed25519 is pure Ed25519; the payload is the message itself.
	Ed25519 = Algorithm(signpb.Algorithm_ED25519)
	// RSAPKCS1SHA256 is RSA PKCS #1 v1.5; the payload is a SHA-256 digest.
	RSAPKCS1SHA256 = Algorithm(signpb.Algorithm_RSA_PKCS1_SHA256)
	// RSAPKCS1SHA384 is RSA PKCS #1 v1.5; the payload is a SHA-384 digest.
	RSAPKCS1SHA384 = Algorithm(signpb.Algorithm_RSA_PKCS1_SHA384)
	// RSAPKCS1SHA512 is RSA PKCS #1 v1.5; the payload is a SHA-512 digest.
	RSAPKCS1SHA512 = Algorithm(signpb.Algorithm_RSA_PKCS1_SHA512)
	// RSAPSSSHA256 is RSA-PSS with SHA-256 and a salt as long as the
	// hash; the payload is a SHA-256 digest.
	RSAPSSSHA256 = Algorithm(signpb.Algorithm_RSA_PSS_SHA256)
	// RSAPSSSHA384 is RSA-PSS with SHA-384 and a 48-byte salt; the
	// payload is a SHA-384 digest.
	RSAPSSSHA384 = Algorithm(signpb.Algorithm_RSA_PSS_SHA384)
	// RSAPSSSHA512 is RSA-PSS with SHA-512 and a 64-byte salt; the
	// payload is a SHA-512 digest.
	RSAPSSSHA512 = Algorithm(signpb.Algorithm_RSA_PSS_SHA512)
)

// algorithms are the algorithms this package knows, by key type and
// hash: what Signer picks from, and checkInput and checkSignature read.
var algorithms = [...]struct {
	alg  Algorithm
	kind keyKind
	hash crypto.Hash
}{
	{ECDSAP256SHA256, kindECDSA, crypto.SHA256},
	{ECDSASHA384, kindECDSA, crypto.SHA384},
	{ECDSASHA512, kindECDSA, crypto.SHA512},
	{Ed25519, kindEd25519, 0},
	{RSAPKCS1SHA256, kindPKCS1, crypto.SHA256},
	{RSAPKCS1SHA384, kindPKCS1, crypto.SHA384},
	{RSAPKCS1SHA512, kindPKCS1, crypto.SHA512},
	{RSAPSSSHA256, kindPSS, crypto.SHA256},
	{RSAPSSSHA384, kindPSS, crypto.SHA384},
	{RSAPSSSHA512, kindPSS, crypto.SHA512},
}

// keyKind is a key type, and for RSA the padding.
type keyKind uint8

const (
	kindECDSA keyKind = iota + 1
	kindEd25519
	kindPKCS1
	kindPSS
)

// find returns the algorithm of kind over h, if the package knows one.
func find(kind keyKind, h crypto.Hash) (Algorithm, bool) {
	for _, a := range algorithms {
		if a.kind == kind && a.hash == h {
			return a.alg, true
		}
	}
	return 0, false
}

// spec returns what the package knows of a: its kind (0 if it knows no
// such algorithm) and hash.
func (a Algorithm) spec() (keyKind, crypto.Hash) {
	for _, x := range algorithms {
		if x.alg == a {
			return x.kind, x.hash
		}
	}
	return 0, 0
}

// Hash returns the hash whose digest is a's payload, or 0 for Ed25519
// (which takes the message itself) and for an algorithm the package
// does not know.
func (a Algorithm) Hash() crypto.Hash {
	_, h := a.spec()
	return h
}

// String returns the algorithm's name, such as "ED25519".
func (a Algorithm) String() string {
	if s, ok := signpb.Algorithm_name[int32(a)]; ok && a != 0 {
		return s
	}
	return "Algorithm(" + strconv.Itoa(int(a)) + ")"
}

// MaxPayload is the longest payload (an Ed25519 message) an operation
// takes: the protocol's bound. Larger ones fail with ErrBadInput before
// anything is sent.
const MaxPayload = signpb.MaxMessage

// KeyIDLen is the length of a key ID: the lowercase hex SHA-256 of the
// key's DER SubjectPublicKeyInfo.
const KeyIDLen = 2 * sha256.Size

// checkInput validates an operation's arguments the way the signer would,
// so that a malformed request fails here with a clear error.
func checkInput(keyID string, alg Algorithm, payload []byte) error {
	if !validKeyID(keyID) {
		return fmt.Errorf("remote: key ID %q is not %d lowercase hex digits: %w", keyID, KeyIDLen, ErrBadInput)
	}
	switch kind, h := alg.spec(); {
	case kind == 0:
		return fmt.Errorf("remote: unknown %v: %w", alg, ErrBadInput)
	case h != 0 && len(payload) != h.Size():
		return fmt.Errorf("remote: %v: digest of %d bytes, want %d (%v): %w", alg, len(payload), h.Size(), h, ErrBadInput)
	case h == 0 && len(payload) > MaxPayload:
		return fmt.Errorf("remote: %v: message of %d bytes, at most %d: %w", alg, len(payload), MaxPayload, ErrBadInput)
	}
	return nil
}

func validKeyID(id string) bool {
	if len(id) != KeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// KeyID returns the key ID of the public key whose DER
// SubjectPublicKeyInfo is spki.
func KeyID(spki []byte) string { return signpb.KeyID(spki) }
