package remote

import (
	"crypto/sha256"
	"fmt"
	"strconv"

	"github.com/seed-e1024768/async/internal/signpb"
)

// Algorithm is a signature algorithm the signer offers. Its values are
// those of the wire protocol.
type Algorithm int32

const (
	// ECDSAP256SHA256 is ECDSA over P-256; the payload is a SHA-256
	// digest and the signature is ASN.1 DER.
	ECDSAP256SHA256 = Algorithm(signpb.Algorithm_ECDSA_P256_SHA256)
	// Ed25519 is pure Ed25519; the payload is the message itself.
	Ed25519 = Algorithm(signpb.Algorithm_ED25519)
	// RSAPKCS1SHA256 is RSA PKCS #1 v1.5; the payload is a SHA-256 digest.
	RSAPKCS1SHA256 = Algorithm(signpb.Algorithm_RSA_PKCS1_SHA256)
	// RSAPSSSHA256 is RSA-PSS with SHA-256 and a salt as long as the
	// hash; the payload is a SHA-256 digest.
	RSAPSSSHA256 = Algorithm(signpb.Algorithm_RSA_PSS_SHA256)
)

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
	switch alg {
	case ECDSAP256SHA256, RSAPKCS1SHA256, RSAPSSSHA256:
		if len(payload) != sha256.Size {
			return fmt.Errorf("remote: %v: digest of %d bytes, want %d: %w", alg, len(payload), sha256.Size, ErrBadInput)
		}
	case Ed25519:
		if len(payload) > MaxPayload {
			return fmt.Errorf("remote: %v: message of %d bytes, at most %d: %w", alg, len(payload), MaxPayload, ErrBadInput)
		}
	default:
		return fmt.Errorf("remote: unknown %v: %w", alg, ErrBadInput)
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
