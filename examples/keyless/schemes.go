//go:build linux

package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
)

// A candidate is a TLS signature scheme for a type of key, with the
// SignerOpts crypto/tls passes to Sign when it picks that scheme.
type candidate struct {
	scheme tls.SignatureScheme
	opts   crypto.SignerOpts
}

func pss(h crypto.Hash) *rsa.PSSOptions {
	return &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
}

// The schemes TLS 1.2 and 1.3 define for each type of key, but those with
// SHA-1, which crypto/tls no longer makes. For ECDSA, all three: in TLS 1.2
// a scheme names only the hash, and any of them may sign with a key on any
// curve, while for TLS 1.3 crypto/tls itself keeps only the key's curve's
// own scheme (signatureSchemesForPublicKey), so that one list serves both
// versions. For RSA, PKCS #1 v1.5 is TLS 1.2's alone, which crypto/tls
// enforces the same way.
var (
	ecdsaCandidates = []candidate{
		{tls.ECDSAWithP256AndSHA256, crypto.SHA256},
		{tls.ECDSAWithP384AndSHA384, crypto.SHA384},
		{tls.ECDSAWithP521AndSHA512, crypto.SHA512},
	}
	rsaCandidates = []candidate{
		{tls.PSSWithSHA256, pss(crypto.SHA256)},
		{tls.PSSWithSHA384, pss(crypto.SHA384)},
		{tls.PSSWithSHA512, pss(crypto.SHA512)},
		{tls.PKCS1WithSHA256, crypto.SHA256},
		{tls.PKCS1WithSHA384, crypto.SHA384},
		{tls.PKCS1WithSHA512, crypto.SHA512},
	}
	ed25519Candidates = []candidate{{tls.Ed25519, crypto.Hash(0)}}
)

// candidates returns the schemes TLS has for a key like pub, or nil for
// a key TLS cannot sign with.
func candidates(pub crypto.PublicKey) []candidate {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsaCandidates
	case *rsa.PublicKey:
		return rsaCandidates
	case ed25519.PublicKey:
		return ed25519Candidates
	}
	return nil
}

// offeredSchemes returns the schemes among candidates(k.Public()) that k
// signs with: those a certificate with the key may offer. It asks k
// itself, so that the list is what the signer's client accepts, with no
// table of its own to fall behind it: each candidate's SignerOpts are
// tried with a context already canceled, which a remote.Signer checks only
// after the options and the digest, so that nothing is sent; a key that
// does not heed the context (one in process) signs, and that is a yes too.
// Any other answer (remote.ErrUnsupported, remote.ErrBadInput for an
// algorithm the client does not know) is a no.
func offeredSchemes(k key) []tls.SignatureScheme {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := k.WithContext(ctx)
	offered := []tls.SignatureScheme{}
	for _, c := range candidates(k.Public()) {
		payload := make([]byte, 32) // Ed25519's: a message
		if h := c.opts.HashFunc(); h != 0 {
			payload = make([]byte, h.Size())
		}
		if _, err := s.Sign(rand.Reader, payload, c.opts); err == nil || errors.Is(err, context.Canceled) {
			offered = append(offered, c.scheme)
		}
	}
	return offered
}

// schemeOf returns the TLS signature scheme that crypto/tls asked for when
// it called Sign with opts for the key pub: crypto/tls does not say which
// one it picked, but the key's type and opts tell (in TLS 1.2, the ECDSA
// schemes name only their hash). It returns 0 for options no scheme has.
func schemeOf(pub crypto.PublicKey, opts crypto.SignerOpts) tls.SignatureScheme {
	if opts == nil {
		return 0
	}
	_, isPSS := opts.(*rsa.PSSOptions)
	for _, c := range candidates(pub) {
		_, cPSS := c.opts.(*rsa.PSSOptions)
		if c.opts.HashFunc() == opts.HashFunc() && cPSS == isPSS {
			return c.scheme
		}
	}
	return 0
}

// schemeNames are the schemes' names in the TLS registry (RFC 8446), the
// names OpenSSL's -sigalgs takes.
var schemeNames = map[tls.SignatureScheme]string{
	tls.PSSWithSHA256:          "rsa_pss_rsae_sha256",
	tls.PSSWithSHA384:          "rsa_pss_rsae_sha384",
	tls.PSSWithSHA512:          "rsa_pss_rsae_sha512",
	tls.PKCS1WithSHA256:        "rsa_pkcs1_sha256",
	tls.PKCS1WithSHA384:        "rsa_pkcs1_sha384",
	tls.PKCS1WithSHA512:        "rsa_pkcs1_sha512",
	tls.PKCS1WithSHA1:          "rsa_pkcs1_sha1",
	tls.ECDSAWithP256AndSHA256: "ecdsa_secp256r1_sha256",
	tls.ECDSAWithP384AndSHA384: "ecdsa_secp384r1_sha384",
	tls.ECDSAWithP521AndSHA512: "ecdsa_secp521r1_sha512",
	tls.ECDSAWithSHA1:          "ecdsa_sha1",
	tls.Ed25519:                "ed25519",
}

// schemeName returns the scheme's registry name, and Go's in parentheses:
// "ecdsa_secp256r1_sha256 (ECDSAWithP256AndSHA256)".
func schemeName(s tls.SignatureScheme) string {
	if n, ok := schemeNames[s]; ok {
		return n + " (" + s.String() + ")"
	}
	return s.String()
}
