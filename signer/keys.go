package signer

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

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// MaxMessage is the longest Ed25519 message the signer signs, in bytes:
// the protocol's bound.
const MaxMessage = pb.MaxMessage

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
	id     string
	name   string
	spki   []byte
	signer crypto.Signer
	family family
	bits   int   // the RSA modulus's or the ECDSA curve's size
	cost   int64 // what a signature costs, in the scheduler's units (see cost)
}

// family is a key's type, as the algorithms of requests name it.
type family uint8

const (
	famECDSA family = iota + 1
	famEd25519
	famRSA
)

// ErrNoKeys is returned (wrapped) by New when the deployment has no
// signing keys.
var ErrNoKeys = errors.New("signer: no signing keys")

// loadKeys asks store for its keys, by key ID.
func loadKeys(store KeyStore) (map[string]*key, error) {
	list, err := store.Keys()
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, ErrNoKeys
	}
	keys := make(map[string]*key, len(list))
	for _, kk := range list {
		k, err := newKey(kk)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", kk.Name, err)
		}
		keys[k.id] = k
	}
	return keys, nil
}

func newKey(kk Key) (*key, error) {
	if kk.Signer == nil {
		return nil, errors.New("no signer")
	}
	spki, err := x509.MarshalPKIXPublicKey(kk.Signer.Public())
	if err != nil {
		return nil, err
	}
	k := &key{id: pb.KeyID(spki), name: kk.Name, spki: spki, signer: kk.Signer}
	switch pub := kk.Signer.Public().(type) {
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, fmt.Errorf("ECDSA curve %s not supported", pub.Curve.Params().Name)
		}
		k.family, k.bits = famECDSA, pub.Curve.Params().BitSize
	case ed25519.PublicKey:
		k.family = famEd25519
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too short", pub.N.BitLen())
		}
		if s, ok := kk.Signer.(*rsa.PrivateKey); ok {
			s.Precompute()
		}
		k.family, k.bits = famRSA, pub.N.BitLen()
	default:
		return nil, fmt.Errorf("key type %T not supported", pub)
	}
	k.cost = keyCost(k)
	return k, nil
}

// The errors of a request, as its SignResult says them. Constants, so
// that a failing request allocates nothing more than a good one.
const (
	errUnknownKey   = "unknown key id"
	errExpired      = "deadline passed before signing"
	errAlgorithm    = "unknown algorithm"
	errKeyMismatch  = "algorithm does not match the key's type"
	errDigestLen    = "payload length is not the digest length of the algorithm's hash"
	errMessageLen   = "message longer than 65536 bytes"
	errCanceled     = "canceled before signing"
	errFull         = "too many requests in flight on this stream"
	errDuplicate    = "request id already in flight on this stream"
	errShuttingDown = "signer is shutting down"
)

// scheme is what an algorithm asks of a key: its family, and the
// options its Signer takes (which name the hash, and so the digest's
// length).
type scheme struct {
	family family
	opts   crypto.SignerOpts
}

// pss are the PSS options TLS requires: a salt as long as the hash.
func pss(h crypto.Hash) *rsa.PSSOptions {
	return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
}

// schemes are the algorithms the signer knows, by their wire number.
var schemes = [...]scheme{
	pb.Algorithm_ECDSA_P256_SHA256: {famECDSA, crypto.SHA256},
	pb.Algorithm_ECDSA_SHA384:      {famECDSA, crypto.SHA384},
	pb.Algorithm_ECDSA_SHA512:      {famECDSA, crypto.SHA512},
	pb.Algorithm_ED25519:           {famEd25519, crypto.Hash(0)},
	pb.Algorithm_RSA_PKCS1_SHA256:  {famRSA, crypto.SHA256},
	pb.Algorithm_RSA_PKCS1_SHA384:  {famRSA, crypto.SHA384},
	pb.Algorithm_RSA_PKCS1_SHA512:  {famRSA, crypto.SHA512},
	pb.Algorithm_RSA_PSS_SHA256:    {famRSA, pss(crypto.SHA256)},
	pb.Algorithm_RSA_PSS_SHA384:    {famRSA, pss(crypto.SHA384)},
	pb.Algorithm_RSA_PSS_SHA512:    {famRSA, pss(crypto.SHA512)},
}

// handle validates req and signs it: what the server does with one
// request once a worker takes it and finds it still in time.
func handle(keys map[string]*key, req *pb.SignRequest) (pb.Code, []byte, string) {
	k := keys[req.GetKeyId()]
	if k == nil {
		return pb.Code_CODE_UNKNOWN_KEY, nil, errUnknownKey
	}
	alg := req.GetAlgorithm()
	if alg < 0 || int(alg) >= len(schemes) || schemes[alg].family == 0 {
		return pb.Code_CODE_BAD_REQUEST, nil, errAlgorithm
	}
	sc := &schemes[alg]
	if sc.family != k.family {
		return pb.Code_CODE_BAD_REQUEST, nil, errKeyMismatch
	}
	p := req.GetPayload()
	if h := sc.opts.HashFunc(); h != 0 && len(p) != h.Size() {
		return pb.Code_CODE_BAD_REQUEST, nil, errDigestLen
	}
	if sc.family == famEd25519 && len(p) > MaxMessage {
		return pb.Code_CODE_BAD_REQUEST, nil, errMessageLen
	}
	sig, err := k.signer.Sign(rand.Reader, p, sc.opts)
	if err != nil {
		// The crypto packages' errors name what failed, never the
		// key's bytes; a store's Signer must do as well.
		return pb.Code_CODE_INTERNAL, nil, err.Error()
	}
	return pb.Code_CODE_OK, sig, ""
}
