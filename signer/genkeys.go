package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"sync"
)

func ecdsaGen(c elliptic.Curve) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return ecdsa.GenerateKey(c, rand.Reader) }
}

func rsaGen(bits int) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, bits) }
}

// reuseKeys, when set (by tests), returns the signing keys Init writes
// in place of new ones: a test binary that calls Init many times makes
// the RSA keys once (under the race detector they take seconds each).
var reuseKeys func() ([]crypto.Signer, error)

// genSigningKeys makes the keys of signingKeys, in its order, each on a
// goroutine of its own: an RSA-4096 key alone takes a second or more (its
// primes are found by trial), and the RSA-3072 one about half that, so
// that Init takes about as long as the slowest key rather than the sum
// of them, on a machine with cores to spare. Every goroutine has ended
// when it returns. Its error is the first key's that failed.
func genSigningKeys() ([]crypto.Signer, error) {
	if reuseKeys != nil {
		return reuseKeys()
	}
	keys := make([]crypto.Signer, len(signingKeys))
	errs := make([]error, len(signingKeys))
	var wg sync.WaitGroup
	for i, sk := range signingKeys {
		wg.Go(func() { keys[i], errs[i] = sk.gen() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return keys, nil
}
