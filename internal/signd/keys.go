package signd

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// MaxMessage is the longest Ed25519 message the signer signs, in bytes:
// the protocol's bound.
const MaxMessage = pb.MaxMessage

// digestLen is the payload length of the digest algorithms (SHA-256).
const digestLen = 32

// KeyID returns the ID a signer knows pub by: the lowercase hex SHA-256 of
// its DER SubjectPublicKeyInfo. Its error is x509.MarshalPKIXPublicKey's
// for a key type that has no SubjectPublicKeyInfo.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return pb.KeyID(der), nil
}

// key is a signing key the server holds.
type key struct {
	id   string
	spki []byte
	// Exactly one of these is set.
	ecdsa *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	rsa   *rsa.PrivateKey
}

// ErrNoKeys is returned (wrapped) by New when the deployment has no
// signing keys.
var ErrNoKeys = errors.New("signd: no signing keys")

// loadKeys reads every dir/*.key.
func loadKeys(dir string) (map[string]*key, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.key"))
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	keys := make(map[string]*key, len(paths))
	for _, p := range paths {
		s, err := readPrivateKey(p)
		if err != nil {
			return nil, err
		}
		k, err := newKey(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		keys[k.id] = k
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: %w", dir, ErrNoKeys)
	}
	return keys, nil
}

func newKey(s crypto.Signer) (*key, error) {
	spki, err := x509.MarshalPKIXPublicKey(s.Public())
	if err != nil {
		return nil, err
	}
	k := &key{id: pb.KeyID(spki), spki: spki}
	switch s := s.(type) {
	case *ecdsa.PrivateKey:
		if s.Curve != elliptic.P256() {
			return nil, fmt.Errorf("ECDSA curve %s not supported", s.Curve.Params().Name)
		}
		k.ecdsa = s
	case ed25519.PrivateKey:
		k.ed = s
	case *rsa.PrivateKey:
		if s.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too short", s.N.BitLen())
		}
		s.Precompute()
		k.rsa = s
	default:
		return nil, fmt.Errorf("key type %T not supported", s)
	}
	return k, nil
}

// The errors of a request, as its SignResult says them. Constants, so
// that a failing request allocates nothing more than a good one.
const (
	errUnknownKey   = "unknown key id"
	errExpired      = "deadline passed before signing"
	errAlgorithm    = "unknown algorithm"
	errKeyMismatch  = "algorithm does not match the key's type"
	errDigestLen    = "payload must be a 32-byte SHA-256 digest"
	errMessageLen   = "message longer than 65536 bytes"
	errCanceled     = "canceled before signing"
	errFull         = "too many requests in flight on this stream"
	errDuplicate    = "request id already in flight on this stream"
	errShuttingDown = "signer is shutting down"
)

var pssOptions = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}

// handle validates req and signs it: what the server does with one
// request once a worker takes it and finds it still in time.
func handle(keys map[string]*key, req *pb.SignRequest) (pb.Code, []byte, string) {
	k := keys[req.GetKeyId()]
	if k == nil {
		return pb.Code_CODE_UNKNOWN_KEY, nil, errUnknownKey
	}
	p := req.GetPayload()
	var (
		sig []byte
		err error
	)
	switch alg := req.GetAlgorithm(); alg {
	case pb.Algorithm_ECDSA_P256_SHA256:
		if k.ecdsa == nil {
			return pb.Code_CODE_BAD_REQUEST, nil, errKeyMismatch
		}
		if len(p) != digestLen {
			return pb.Code_CODE_BAD_REQUEST, nil, errDigestLen
		}
		sig, err = ecdsa.SignASN1(rand.Reader, k.ecdsa, p)
	case pb.Algorithm_ED25519:
		if k.ed == nil {
			return pb.Code_CODE_BAD_REQUEST, nil, errKeyMismatch
		}
		if len(p) > MaxMessage {
			return pb.Code_CODE_BAD_REQUEST, nil, errMessageLen
		}
		sig = ed25519.Sign(k.ed, p)
	case pb.Algorithm_RSA_PKCS1_SHA256, pb.Algorithm_RSA_PSS_SHA256:
		if k.rsa == nil {
			return pb.Code_CODE_BAD_REQUEST, nil, errKeyMismatch
		}
		if len(p) != digestLen {
			return pb.Code_CODE_BAD_REQUEST, nil, errDigestLen
		}
		if alg == pb.Algorithm_RSA_PKCS1_SHA256 {
			sig, err = rsa.SignPKCS1v15(nil, k.rsa, crypto.SHA256, p)
		} else {
			sig, err = rsa.SignPSS(rand.Reader, k.rsa, crypto.SHA256, p, pssOptions)
		}
	default:
		return pb.Code_CODE_BAD_REQUEST, nil, errAlgorithm
	}
	if err != nil {
		// The crypto packages' errors name what failed, never the
		// key's bytes.
		return pb.Code_CODE_INTERNAL, nil, err.Error()
	}
	return pb.Code_CODE_OK, sig, ""
}
