//go:build linux

package main

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // SHA-384 and SHA-512, by crypto.Hash
	"fmt"

	"github.com/seed-e1024768/async/offload"
)

// op performs one operation through e: offloaded when ctx carries a job,
// on the caller otherwise.
type op func(ctx context.Context, e *offload.Engine) error

// algorithm is one row group of the table, named as openssl speed names it.
type algorithm struct {
	name  string
	about string
	setup func() (op, error) // makes keys and inputs once
	named bool               // measured only when named, not in a run that names none
}

// algorithms lists every algorithm asyncspeed knows, in table order. The
// larger keys are measured only when named: the run that names none
// stays a few seconds long.
var algorithms = []algorithm{
	{"ecdsap256", "ECDSA P-256 sign of a SHA-256 digest", setupECDSA, false},
	{"ecdsap384", "ECDSA P-384 sign of a SHA-384 digest", setupSigner(ecdsaGen(elliptic.P384()), crypto.SHA384), true},
	{"ecdsap521", "ECDSA P-521 sign of a SHA-512 digest", setupSigner(ecdsaGen(elliptic.P521()), crypto.SHA512), true},
	{"ed25519", "Ed25519 sign of a 64-byte message", setupEd25519, false},
	{"rsa2048", "RSA-2048 PKCS#1 v1.5 sign of a SHA-256 digest", setupRSA, false},
	{"rsa3072", "RSA-3072 PKCS#1 v1.5 sign of a SHA-256 digest", setupSigner(rsaGen(3072), crypto.SHA256), true},
	{"rsa4096", "RSA-4096 PKCS#1 v1.5 sign of a SHA-256 digest", setupSigner(rsaGen(4096), crypto.SHA256), true},
	{"sha256", "SHA-256 of 16 KiB (openssl speed sha256)", setupSHA256, false},
	{"aes-128-gcm", "AES-128-GCM seal of 16 KiB (openssl speed -evp aes-128-gcm)", setupAESGCM, false},
}

// defaultAlgorithms are those a run that names none measures.
func defaultAlgorithms() []algorithm {
	var out []algorithm
	for _, a := range algorithms {
		if !a.named {
			out = append(out, a)
		}
	}
	return out
}

func findAlgorithm(name string) (algorithm, bool) {
	for _, a := range algorithms {
		if a.name == name {
			return a, true
		}
	}
	return algorithm{}, false
}

func setupECDSA() (op, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte("asyncspeed"))
	return func(ctx context.Context, e *offload.Engine) error {
		_, err := e.SignECDSAP256(ctx, key, digest[:])
		return err
	}, nil
}

func setupEd25519() (op, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	msg := make([]byte, 64)
	return func(ctx context.Context, e *offload.Engine) error {
		_, err := e.SignEd25519(ctx, key, msg)
		return err
	}, nil
}

func setupRSA() (op, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte("asyncspeed"))
	return func(ctx context.Context, e *offload.Engine) error {
		_, err := e.SignRSA2048(ctx, key, digest[:])
		return err
	}, nil
}

func ecdsaGen(c elliptic.Curve) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return ecdsa.GenerateKey(c, rand.Reader) }
}

func rsaGen(bits int) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err == nil {
			k.Precompute()
		}
		return k, err
	}
}

// setupSigner signs a digest by h (ECDSA, or RSA PKCS #1 v1.5) with a key
// gen makes: offload has no operation of its own for these keys, so a
// job hands the signature to its workers with Do.
func setupSigner(gen func() (crypto.Signer, error), h crypto.Hash) func() (op, error) {
	return func() (op, error) {
		key, err := gen()
		if err != nil {
			return nil, err
		}
		hw := h.New()
		hw.Write([]byte("asyncspeed"))
		digest := hw.Sum(nil)
		return func(ctx context.Context, e *offload.Engine) error {
			// err is written by the worker, and read only once Do has
			// returned nil, when the worker is done with it.
			var err error
			if derr := e.Do(ctx, func() { _, err = key.Sign(rand.Reader, digest, h) }); derr != nil {
				return derr
			}
			return err
		}, nil
	}
}

const bulkSize = 16 << 10

func setupSHA256() (op, error) {
	data := make([]byte, bulkSize)
	return func(ctx context.Context, e *offload.Engine) error {
		_, err := e.SHA256(ctx, data)
		return err
	}, nil
}

func setupAESGCM() (op, error) {
	block, err := aes.NewCipher(make([]byte, 16))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plaintext := make([]byte, bulkSize)
	nonce := make([]byte, aead.NonceSize())
	// Each call seals into its own buffer: operations run at once on
	// several workers. A fixed nonce is fine for a benchmark only.
	return func(ctx context.Context, e *offload.Engine) error {
		_, err := e.SealAESGCM(ctx, aead, nil, nonce, plaintext, nil)
		return err
	}, nil
}

// mustAlgorithm returns the algorithm named name, which must exist.
func mustAlgorithm(name string) algorithm {
	a, ok := findAlgorithm(name)
	if !ok {
		panic("asyncspeed: no algorithm " + name)
	}
	return a
}

func algorithmNames() string {
	s := ""
	for i, a := range algorithms {
		if i > 0 {
			s += ", "
		}
		s += a.name
	}
	return s
}

func describeAlgorithms() string {
	s := ""
	for _, a := range algorithms {
		mark := " "
		if a.named {
			mark = "*"
		}
		s += fmt.Sprintf("%s %-12s %s\n", mark, a.name, a.about)
	}
	return s
}
