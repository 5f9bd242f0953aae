//go:build linux

package remote

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/seed-e1024768/async/loop"
)

// TestBadInput: malformed requests fail before anything is sent, with
// ErrBadInput; requests the signer refuses (a key it does not hold, an
// algorithm that does not fit the key) fail with ErrUnknownKey and
// ErrBadInput from its answer; and nothing else is affected: good
// requests before and after, in jobs and outside, succeed.
func TestBadInput(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir)
	e := dial(t, Config{}, s)
	ed, ec := keyID(t, dir, "ed25519"), keyID(t, dir, "ecdsap256")
	digest := make([]byte, sha256.Size)
	unknown := strings.Repeat("0", KeyIDLen)
	for _, c := range []struct {
		name    string
		kid     string
		alg     Algorithm
		payload []byte
		want    error
		sent    bool
	}{
		{"short key ID", "abc", Ed25519, nil, ErrBadInput, false},
		{"upper-case key ID", strings.ToUpper(ed), Ed25519, nil, ErrBadInput, false},
		{"unknown algorithm", ed, Algorithm(99), nil, ErrBadInput, false},
		{"short digest", ec, ECDSAP256SHA256, digest[:31], ErrBadInput, false},
		{"long digest", ec, ECDSAP256SHA256, append(digest, 0), ErrBadInput, false},
		{"oversized message", ed, Ed25519, make([]byte, MaxPayload+1), ErrBadInput, false},
		{"unknown key", unknown, Ed25519, []byte("x"), ErrUnknownKey, true},
		{"algorithm not the key's", ed, ECDSAP256SHA256, digest, ErrBadInput, true},
	} {
		before := e.Stats().Sent
		_, err := e.Sign(context.Background(), c.kid, c.alg, c.payload)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v; want %v", c.name, err, c.want)
		}
		if sent := e.Stats().Sent != before; sent != c.sent {
			t.Errorf("%s: sent %v; want %v", c.name, sent, c.sent)
		}
		var se *SignerError
		if errors.As(err, &se) != c.sent {
			t.Errorf("%s: %v is a *SignerError: %v", c.name, err, !c.sent)
		}
	}
	if _, err := e.PublicKey(context.Background(), unknown); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("PublicKey of an unknown key: %v", err)
	}
	if _, err := e.Signer(context.Background(), "nope"); !errors.Is(err, ErrBadInput) {
		t.Errorf("Signer of a malformed key ID: %v", err)
	}

	// Bad and good requests mixed in jobs.
	sigs, errs, err := runJobs(context.Background(), e, loop.ModeFD, 8, 40, ed, Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sigs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	_, errs, err = runJobs(context.Background(), e, loop.ModeFD, 8, 8, unknown, Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		if !errors.Is(err, ErrUnknownKey) {
			t.Errorf("job with an unknown key: %v", err)
		}
	}
}

// TestSignerOptions: the Signer picks the algorithm from its key and the
// options, and refuses others with ErrUnsupported without sending.
func TestSignerOptions(t *testing.T) {
	_, dir, _ := testSignd(t)
	e := dial(t, Config{}, startSigner(t, dir))
	digest := sha256.Sum256([]byte("options"))
	for _, c := range []struct {
		key  string
		opts crypto.SignerOpts
		ok   bool
	}{
		{"ecdsap256", crypto.SHA256, true},
		{"ecdsap256", crypto.SHA1, false},
		{"ed25519", crypto.Hash(0), true},
		{"ed25519", &ed25519.Options{}, true},
		{"ed25519", &ed25519.Options{Hash: crypto.SHA512}, false},
		{"ed25519", &ed25519.Options{Context: "ctx"}, false},
		{"ed25519", crypto.SHA256, false},
		{"rsa2048", crypto.SHA256, true},
		{"rsa2048", crypto.SHA1, false},
		{"rsa2048", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}, true},
		// Auto asks for the longest salt: a signature the signer does
		// not make (item 1 of keyless for real sites).
		{"rsa2048", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthAuto}, false},
		{"rsa2048", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 20}, false},
		{"rsa2048", &rsa.PSSOptions{Hash: crypto.SHA512, SaltLength: 20}, false},
	} {
		sg, err := e.Signer(context.Background(), keyID(t, dir, c.key))
		if err != nil {
			t.Fatal(err)
		}
		in := digest[:]
		if c.key == "ed25519" {
			in = []byte("the message itself")
		}
		sig, err := sg.Sign(nil, in, c.opts)
		if !c.ok {
			if !errors.Is(err, ErrUnsupported) {
				t.Errorf("%s %v: %v; want ErrUnsupported", c.key, c.opts, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s %v: %v", c.key, c.opts, err)
		}
		var verr error
		switch pub := sg.Public().(type) {
		case ed25519.PublicKey:
			if !ed25519.Verify(pub, in, sig) {
				verr = errors.New("bad signature")
			}
		case *rsa.PublicKey:
			if o, ok := c.opts.(*rsa.PSSOptions); ok {
				verr = rsa.VerifyPSS(pub, crypto.SHA256, in, sig, o)
			} else {
				verr = rsa.VerifyPKCS1v15(pub, crypto.SHA256, in, sig)
			}
		default:
			verr = verify(t, pub, ECDSAP256SHA256, []byte("options"), sig)
		}
		if verr != nil {
			t.Errorf("%s %v: %v", c.key, c.opts, verr)
		}
	}
}
