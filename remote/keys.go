package remote

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"sync"
	"sync/atomic"
)

// keyCache holds the public keys the engine fetched and checked, by key
// ID. A key never changes for its ID (the ID is its hash), so an entry
// never goes stale; the cache is only bounded, against a caller that asks
// for ever new IDs: when full, it starts again empty.
type keyCache struct {
	m sync.Map // key ID → crypto.PublicKey
	n atomic.Int32
}

// maxKeys bounds the keys the engine keeps.
const maxKeys = 4096

func (c *keyCache) get(id string) (crypto.PublicKey, bool) {
	v, ok := c.m.Load(id)
	return v, ok
}

func (c *keyCache) put(id string, pub crypto.PublicKey) {
	if c.n.Add(1) > maxKeys {
		c.m.Clear()
		c.n.Store(1)
	}
	c.m.Store(id, pub)
}

// checkSignature verifies sig, r's answer, with pub, r's key: a signer
// that sends a signature that does not verify fails the operation with
// ErrBadSignature. The error names the signer and the key, never the
// signature or the payload.
func checkSignature(r *request, pub crypto.PublicKey, sig []byte) error {
	ok := false
	kind, h := r.alg.spec()
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		ok = kind == kindECDSA && ecdsa.VerifyASN1(k, r.payload, sig)
	case ed25519.PublicKey:
		ok = kind == kindEd25519 && ed25519.Verify(k, r.payload, sig)
	case *rsa.PublicKey:
		switch kind {
		case kindPKCS1:
			ok = rsa.VerifyPKCS1v15(k, h, r.payload, sig) == nil
		case kindPSS:
			// The salt exactly as long as the hash, as TLS requires.
			ok = rsa.VerifyPSS(k, h, r.payload, sig, &rsa.PSSOptions{SaltLength: h.Size()}) == nil
		}
	}
	if ok {
		return nil
	}
	from := "a signer"
	if st := r.at.Load(); st != nil {
		from = "signer " + st.srv.addr
	}
	return fmt.Errorf("remote: %s sent a %v signature by key %s that does not verify with the key's public key: %w", from, r.alg, r.keyID, ErrBadSignature)
}
