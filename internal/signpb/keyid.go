package signpb

import (
	"crypto/sha256"
	"encoding/hex"
)

// KeyID is how the protocol names a key (SignRequest.key_id): the
// lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo. Both ends
// use this one definition.
func KeyID(spki []byte) string {
	sum := sha256.Sum256(spki)
	return hex.EncodeToString(sum[:])
}
