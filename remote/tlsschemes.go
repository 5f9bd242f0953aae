package remote

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
)

// tlsSchemes are the TLS 1.2 and 1.3 signature schemes a Signer makes,
// each with the algorithm that makes it. An ECDSA scheme names a curve,
// but only TLS 1.3 holds a key to it: TLS 1.2 reads it as ECDSA with
// that hash, on any curve, as the signer's ECDSA algorithms do.
var tlsSchemes = [...]struct {
	scheme tls.SignatureScheme
	alg    Algorithm
}{
	{tls.ECDSAWithP256AndSHA256, ECDSAP256SHA256},
	{tls.ECDSAWithP384AndSHA384, ECDSASHA384},
	{tls.ECDSAWithP521AndSHA512, ECDSASHA512},
	{tls.Ed25519, Ed25519},
	{tls.PSSWithSHA256, RSAPSSSHA256},
	{tls.PSSWithSHA384, RSAPSSSHA384},
	{tls.PSSWithSHA512, RSAPSSSHA512},
	{tls.PKCS1WithSHA256, RSAPKCS1SHA256},
	{tls.PKCS1WithSHA384, RSAPKCS1SHA384},
	{tls.PKCS1WithSHA512, RSAPKCS1SHA512},
}

// SignatureSchemes returns every TLS signature scheme a Signer makes with
// a key like pub, for a tls.Certificate's SupportedSignatureAlgorithms:
// for ECDSA on P-256, P-384 or P-521, ECDSA with SHA-256, SHA-384 and
// SHA-512 (crypto/tls offers a TLS 1.3 client only the one of the key's
// curve, a TLS 1.2 client all three); for RSA, PSS and PKCS #1 v1.5 with
// each of those hashes (PKCS #1 v1.5 in TLS 1.2 only); Ed25519. For any
// other key it returns an empty list, not nil: a certificate with it
// fails every handshake, saying why, rather than letting crypto/tls pick
// a scheme the Signer refuses. SHA-1 schemes are never among them.
func SignatureSchemes(pub crypto.PublicKey) []tls.SignatureScheme {
	var kinds []keyKind
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			kinds = []keyKind{kindECDSA}
		}
	case ed25519.PublicKey:
		kinds = []keyKind{kindEd25519}
	case *rsa.PublicKey:
		kinds = []keyKind{kindPSS, kindPKCS1}
	}
	out := []tls.SignatureScheme{}
	for _, s := range tlsSchemes {
		kind, _ := s.alg.spec()
		for _, k := range kinds {
			if kind == k {
				out = append(out, s.scheme)
			}
		}
	}
	return out
}

// SchemeOf returns the TLS signature scheme that a Signer for a key like
// pub makes when its Sign is given opts: the scheme crypto/tls picked
// when it calls Sign with those options (crypto/tls does not say which
// it picked, but the key's type and the options tell). It returns 0 for
// options the Signer refuses (see Signer.SignContext).
func SchemeOf(pub crypto.PublicKey, opts crypto.SignerOpts) tls.SignatureScheme {
	alg, err := (&Signer{pub: pub}).algorithm(opts)
	if err != nil {
		return 0
	}
	for _, s := range tlsSchemes {
		if s.alg == alg {
			return s.scheme
		}
	}
	return 0
}
