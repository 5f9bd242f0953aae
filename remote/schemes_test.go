//go:build linux

package remote

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// allKeys are the keys of a deployment, one of each type and size.
var allKeys = []string{"ecdsap256", "ecdsap384", "ecdsap521", "rsa2048", "rsa3072", "rsa4096", "ed25519"}

// digestOf returns the digest of msg by h (the message itself for 0).
func digestOf(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(msg)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(msg)
		return d[:]
	}
	return msg
}

// verifyOpts checks sig over digest as a crypto.Signer's caller would:
// with the public key, the hash opts name, and for PSS a salt as long as
// the hash (what TLS requires).
func verifyOpts(pub crypto.PublicKey, opts crypto.SignerOpts, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
	case ed25519.PublicKey:
		if !ed25519.Verify(k, digest, sig) {
			return errors.New("Ed25519 signature does not verify")
		}
	case *rsa.PublicKey:
		h := opts.HashFunc()
		if _, ok := opts.(*rsa.PSSOptions); ok {
			return rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: h.Size()})
		}
		return rsa.VerifyPKCS1v15(k, h, digest, sig)
	default:
		return fmt.Errorf("%T key", pub)
	}
	return nil
}

// optsCase is a crypto.SignerOpts and whether a Signer for a key of kind
// takes it.
type optsCase struct {
	opts crypto.SignerOpts
	ok   bool
}

func pssOpts(h crypto.Hash, salt int) *rsa.PSSOptions {
	return &rsa.PSSOptions{Hash: h, SaltLength: salt}
}

// optsCases are, for a key's type, every option crypto/tls passes for
// it (taken), and others (refused).
func optsCases(pub crypto.PublicKey) []optsCase {
	good := []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}
	bad := []crypto.Hash{0, crypto.SHA1, crypto.MD5SHA1, crypto.MD5, crypto.SHA224, crypto.SHA512_256, crypto.SHA3_256}
	var cs []optsCase
	switch pub.(type) {
	case ed25519.PublicKey:
		cs = []optsCase{
			{crypto.Hash(0), true}, {&ed25519.Options{}, true},
			{&ed25519.Options{Hash: crypto.SHA512}, false}, {&ed25519.Options{Context: "ctx"}, false},
			{(*ed25519.Options)(nil), false}, {crypto.SHA256, false}, {crypto.SHA512, false},
			{pssOpts(crypto.SHA256, rsa.PSSSaltLengthEqualsHash), false},
		}
	case *ecdsa.PublicKey:
		for _, h := range good {
			cs = append(cs, optsCase{h, true}, optsCase{pssOpts(h, rsa.PSSSaltLengthEqualsHash), false})
		}
		for _, h := range bad {
			cs = append(cs, optsCase{h, false})
		}
		cs = append(cs, optsCase{&ed25519.Options{}, false}, optsCase{nil, false})
	case *rsa.PublicKey:
		for _, h := range good {
			cs = append(cs,
				optsCase{h, true},
				optsCase{pssOpts(h, rsa.PSSSaltLengthEqualsHash), true}, // what crypto/tls passes
				optsCase{pssOpts(h, h.Size()), true},
				optsCase{pssOpts(h, rsa.PSSSaltLengthAuto), false},
				optsCase{pssOpts(h, h.Size()+1), false},
				optsCase{pssOpts(h, 20), false},
			)
		}
		for _, h := range bad {
			cs = append(cs, optsCase{h, false}, optsCase{pssOpts(h, rsa.PSSSaltLengthEqualsHash), false})
		}
		cs = append(cs, optsCase{(*rsa.PSSOptions)(nil), false}, optsCase{&ed25519.Options{}, false}, optsCase{nil, false})
	}
	return cs
}

func optsString(o crypto.SignerOpts) string {
	switch o := o.(type) {
	case *rsa.PSSOptions:
		if o == nil {
			return "nil *rsa.PSSOptions"
		}
		return fmt.Sprintf("PSS %v salt %d", o.Hash, o.SaltLength)
	case *ed25519.Options:
		if o == nil {
			return "nil *ed25519.Options"
		}
		return fmt.Sprintf("ed25519.Options%+v", *o)
	case crypto.Hash:
		if o == 0 {
			return "Hash(0)"
		}
		return o.String()
	}
	return fmt.Sprint(o)
}

// TestSignerEveryOption: a Signer for each key of a deployment (ECDSA
// P-256, P-384, P-521, RSA-2048, 3072, 4096, Ed25519) signs with every
// option crypto/tls passes for its key (SHA-256, SHA-384 and SHA-512 for
// ECDSA and PKCS #1 v1.5; PSS with those hashes and a salt of
// PSSSaltLengthEqualsHash or the hash's size; Ed25519's none), each
// signature verifying as the caller asked, and SchemeOf names the TLS
// scheme; it refuses every other option (SHA-1, MD5+SHA1, no hash, other
// salts, another key type's options) with ErrUnsupported, and a digest
// not the hash's length with ErrBadInput, both before sending anything
// (item 1 of keyless for real sites).
func TestSignerEveryOption(t *testing.T) {
	_, dir, _ := testSignd(t)
	e := dial(t, Config{}, startSigner(t, dir))
	msg := []byte("every option")
	for _, name := range allKeys {
		sg, err := e.Signer(context.Background(), keyID(t, dir, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range optsCases(sg.Public()) {
			what := name + " " + optsString(c.opts)
			var h crypto.Hash
			if c.ok {
				h = c.opts.HashFunc()
			}
			digest := digestOf(h, msg)
			sent := e.Stats().Sent
			sig, err := sg.Sign(nil, digest, c.opts)
			scheme := SchemeOf(sg.Public(), c.opts)
			if !c.ok {
				if !errors.Is(err, ErrUnsupported) || sig != nil {
					t.Errorf("%s: %x, %v; want ErrUnsupported", what, sig, err)
				}
				if e.Stats().Sent != sent {
					t.Errorf("%s: refused, but sent", what)
				}
				if scheme != 0 {
					t.Errorf("%s: SchemeOf = %v, want none", what, scheme)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", what, err)
				continue
			}
			if err := verifyOpts(sg.Public(), c.opts, digest, sig); err != nil {
				t.Errorf("%s: %v", what, err)
			}
			if !slices.Contains(SignatureSchemes(sg.Public()), scheme) {
				t.Errorf("%s: SchemeOf = %v, not among the key's %v", what, scheme, SignatureSchemes(sg.Public()))
			}
			if h == 0 {
				continue
			}
			for _, n := range []int{0, h.Size() - 1, h.Size() + 1, 32, 48, 64} {
				if n == h.Size() {
					continue
				}
				sent := e.Stats().Sent
				if sig, err := sg.Sign(nil, make([]byte, n), c.opts); !errors.Is(err, ErrBadInput) || sig != nil || e.Stats().Sent != sent {
					t.Errorf("%s, digest of %d bytes: %x, %v; want ErrBadInput, nothing sent", what, n, sig, err)
				}
			}
		}
	}
}

// TestSignatureSchemes: the TLS schemes offered for each key type are
// exactly those its Signer makes, SHA-1 never among them.
func TestSignatureSchemes(t *testing.T) {
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), nil)
	ec224, _ := ecdsa.GenerateKey(elliptic.P224(), nil)
	ed, _, _ := ed25519.GenerateKey(nil)
	for _, c := range []struct {
		pub  crypto.PublicKey
		want []tls.SignatureScheme
	}{
		{&ec384.PublicKey, []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.ECDSAWithP384AndSHA384, tls.ECDSAWithP521AndSHA512}},
		{&ec224.PublicKey, []tls.SignatureScheme{}},
		{ed, []tls.SignatureScheme{tls.Ed25519}},
		{&rsa.PublicKey{}, []tls.SignatureScheme{tls.PSSWithSHA256, tls.PSSWithSHA384, tls.PSSWithSHA512,
			tls.PKCS1WithSHA256, tls.PKCS1WithSHA384, tls.PKCS1WithSHA512}},
		{"not a key", []tls.SignatureScheme{}},
	} {
		if got := SignatureSchemes(c.pub); got == nil || !slices.Equal(got, c.want) {
			t.Errorf("%T: %v, want %v", c.pub, got, c.want)
		}
	}
}

// recorder is a crypto.Signer that notes the options crypto/tls passes.
type recorder struct {
	crypto.Signer
	mu   sync.Mutex
	opts []crypto.SignerOpts
}

func (r *recorder) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	r.mu.Lock()
	r.opts = append(r.opts, opts)
	r.mu.Unlock()
	return r.Signer.Sign(rand, digest, opts)
}

// tls13Schemes are the schemes TLS 1.3 allows a key like pub.
func tls13Schemes(pub crypto.PublicKey) []tls.SignatureScheme {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return map[elliptic.Curve][]tls.SignatureScheme{
			elliptic.P256(): {tls.ECDSAWithP256AndSHA256},
			elliptic.P384(): {tls.ECDSAWithP384AndSHA384},
			elliptic.P521(): {tls.ECDSAWithP521AndSHA512},
		}[k.Curve]
	case *rsa.PublicKey:
		return []tls.SignatureScheme{tls.PSSWithSHA256, tls.PSSWithSHA384, tls.PSSWithSHA512}
	}
	return []tls.SignatureScheme{tls.Ed25519}
}

// TestTLSEveryScheme: a crypto/tls server whose keys are remote Signers
// completes a handshake with a crypto/tls client for every key type, in
// TLS 1.3 and TLS 1.2, with each signature scheme the key allows in that
// version (the server's certificate pinned to that scheme alone): 3 per
// ECDSA key in TLS 1.2 (any curve with any hash) and its curve's in 1.3,
// PSS and PKCS #1 v1.5 with SHA-256, SHA-384 and SHA-512 for RSA in 1.2
// (PSS alone in 1.3), Ed25519. The client checks the chain against the
// site CA for NAME.localhost, and the signature; the options crypto/tls
// passed name the pinned scheme (for PSS, PSSSaltLengthEqualsHash). A
// scheme TLS 1.3 forbids the key fails the handshake without a signature
// asked for (item 1 of keyless for real sites).
func TestTLSEveryScheme(t *testing.T) {
	_, dir, _ := testSignd(t)
	e := dial(t, Config{}, startSigner(t, dir))
	roots := certPool(t, filepath.Join(dir, "ca.pem"))
	handshakes := 0
	for _, name := range allKeys {
		sg, err := e.Signer(context.Background(), keyID(t, dir, name))
		if err != nil {
			t.Fatal(err)
		}
		leaf := certOf(t, dir, name)
		for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
			allowed := SignatureSchemes(sg.Public())
			if v == tls.VersionTLS13 {
				allowed = tls13Schemes(sg.Public())
			}
			for _, scheme := range SignatureSchemes(sg.Public()) {
				what := fmt.Sprintf("%s %s %v", name, tls.VersionName(v), scheme)
				rec := &recorder{Signer: sg}
				cert := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: rec, Leaf: leaf,
					SupportedSignatureAlgorithms: []tls.SignatureScheme{scheme}}
				cerr, serr := tlsHandshake(cert, &tls.Config{RootCAs: roots, ServerName: name + ".localhost", MinVersion: v, MaxVersion: v})
				if !slices.Contains(allowed, scheme) {
					if cerr == nil || serr == nil || len(rec.opts) != 0 {
						t.Errorf("%s: handshake %v, %v with %d signatures; want it to fail unsigned", what, cerr, serr, len(rec.opts))
					}
					continue
				}
				if cerr != nil || serr != nil {
					t.Errorf("%s: client %v, server %v", what, cerr, serr)
					continue
				}
				handshakes++
				if len(rec.opts) != 1 {
					t.Errorf("%s: %d signatures", what, len(rec.opts))
					continue
				}
				opts := rec.opts[0]
				if got := SchemeOf(sg.Public(), opts); got != scheme {
					t.Errorf("%s: signed with %v (%s)", what, got, optsString(opts))
				}
				if o, ok := opts.(*rsa.PSSOptions); ok && o.SaltLength != rsa.PSSSaltLengthEqualsHash {
					t.Errorf("%s: crypto/tls passed a PSS salt of %d", what, o.SaltLength)
				}
			}
		}
	}
	// TLS 1.3: 3 ECDSA + 3×3 RSA + 1; TLS 1.2: 3×3 ECDSA + 3×6 RSA + 1.
	if handshakes != 13+28 {
		t.Errorf("%d handshakes, want 41", handshakes)
	}
}

// tlsHandshake runs a TLS handshake between a server with cert and a
// client with cfg, over a pipe, and returns each side's error.
func tlsHandshake(cert *tls.Certificate, cfg *tls.Config) (cerr, serr error) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	deadline := time.Now().Add(20 * time.Second)
	c1.SetDeadline(deadline)
	c2.SetDeadline(deadline)
	srvErr := make(chan error, 1)
	go func() {
		s := tls.Server(c1, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}})
		err := s.Handshake()
		s.Close() // the client reads the close, or the alert
		srvErr <- err
	}()
	cl := tls.Client(c2, cfg)
	cerr = cl.Handshake()
	if cerr == nil {
		// The client's Finished is read by the server's Handshake in
		// TLS 1.2; in TLS 1.3 one read takes it.
		var b [1]byte
		cl.Read(b[:])
	} else {
		c2.Close()
	}
	return cerr, <-srvErr
}
