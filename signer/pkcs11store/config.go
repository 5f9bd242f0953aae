package pkcs11store

import (
	"crypto"
	"errors"
)

// Config says which token Open opens, and how.
type Config struct {
	// Module is the path of the token's PKCS #11 module (a shared
	// library), e.g. /usr/lib/softhsm/libsofthsm2.so.
	Module string
	// Token is the label of the token.
	Token string
	// PIN is the user PIN the session logs in with (see ReadPIN).
	PIN string
}

// The errors of Open, each wrapped with what it is about (never the PIN).
var (
	// ErrModule: the module cannot be found or loaded.
	ErrModule = errors.New("pkcs11store: cannot load the PKCS #11 module")
	// ErrToken: the module has no token of that label.
	ErrToken = errors.New("pkcs11store: no such token")
	// ErrPIN: the token refused the PIN: wrong, malformed, or locked.
	ErrPIN = errors.New("pkcs11store: the token refused the PIN")
	// ErrNoCgo: this program was built without cgo, which PKCS #11
	// modules need.
	ErrNoCgo = errors.New("pkcs11store: built without cgo: PKCS #11 tokens need a build with CGO_ENABLED=1")
)

// ErrLabel is returned (wrapped) by Keys for two key pairs of one label,
// which a policy could not tell apart, and by Generate for a label a key
// pair has already.
var ErrLabel = errors.New("pkcs11store: a key pair of that label exists")

// KeyType is the type of key Generate makes.
type KeyType string

// The key types Generate makes.
const (
	ECDSAP256 KeyType = "ecdsap256" // ECDSA on P-256
	RSA2048   KeyType = "rsa2048"   // RSA, 2048 bits
)

// ErrKeyType is returned (wrapped) by Generate for a KeyType it does not
// make.
var ErrKeyType = errors.New("pkcs11store: unknown key type (want ecdsap256 or rsa2048)")

// A TokenKey is a key pair in a token: it signs inside the token, and
// Delete destroys both halves.
type TokenKey interface {
	crypto.Signer
	Delete() error
}
