//go:build cgo

package pkcs11store

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/seed-e1024768/async/internal/softhsm"
	"github.com/seed-e1024768/async/signer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// open opens tok's token, closing it when the test ends.
func open(t *testing.T, tok *softhsm.Token) *Store {
	t.Helper()
	st, err := Open(Config{Module: tok.Module, Token: tok.Label, PIN: tok.PIN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

// The options the signer signs with (signer/keys.go's schemes): every
// hash, and for RSA, PKCS #1 v1.5 and PSS with a salt as long as the hash.
var signOpts = map[string][]crypto.SignerOpts{
	"ecdsa": {crypto.SHA256, crypto.SHA384, crypto.SHA512},
	"rsa": {crypto.SHA256, crypto.SHA384, crypto.SHA512,
		&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256},
		&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA384},
		&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA512}},
}

func digest(h crypto.Hash) []byte {
	msg := []byte("signed in the token")
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(msg)
		return d[:]
	}
	d := sha256.Sum256(msg)
	return d[:]
}

// TestPKCS11SignVerify: keys generated in a SoftHSM2 token are the
// store's keys, named by label, and sign inside the token with every
// scheme the signer uses, PSS with a salt as long as the hash included
// (crypto11 turns PSSSaltLengthEqualsHash into the hash's length); each
// signature verifies with the key's public half. Item 2 of "the signer in
// production".
func TestPKCS11SignVerify(t *testing.T) {
	tok := softhsm.New(t, "sign")
	st := open(t, tok)
	for name, typ := range map[string]KeyType{"ec": ECDSAP256, "rsa": RSA2048} {
		if _, err := st.Generate(name, typ); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := st.Keys()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Name != "ec" || keys[1].Name != "rsa" {
		t.Fatalf("keys %v; want ec and rsa", keys)
	}
	for _, k := range keys {
		if _, err := signer.KeyID(k.Signer.Public()); err != nil {
			t.Errorf("key %s: %v", k.Name, err)
		}
		switch pub := k.Signer.Public().(type) {
		case *ecdsa.PublicKey:
			for _, o := range signOpts["ecdsa"] {
				d := digest(o.HashFunc())
				sig, err := k.Signer.Sign(rand.Reader, d, o)
				if err != nil {
					t.Fatalf("%s %v: %v", k.Name, o, err)
				}
				if !ecdsa.VerifyASN1(pub, d, sig) {
					t.Errorf("%s %v: signature does not verify", k.Name, o)
				}
			}
		case *rsa.PublicKey:
			for _, o := range signOpts["rsa"] {
				d := digest(o.HashFunc())
				sig, err := k.Signer.Sign(rand.Reader, d, o)
				if err != nil {
					t.Fatalf("%s %v: %v", k.Name, o, err)
				}
				if pss, ok := o.(*rsa.PSSOptions); ok {
					err = rsa.VerifyPSS(pub, o.HashFunc(), d, sig, pss)
				} else {
					err = rsa.VerifyPKCS1v15(pub, o.HashFunc(), d, sig)
				}
				if err != nil {
					t.Errorf("%s %v: %v", k.Name, o, err)
				}
			}
		default:
			t.Errorf("key %s: public key %T", k.Name, pub)
		}
	}
	if _, err := st.Generate("ec", ECDSAP256); !errors.Is(err, ErrLabel) || !errors.Is(err, fs.ErrExist) {
		t.Errorf("Generate of a label in use = %v; want ErrLabel", err)
	}
	if _, err := st.Generate("x", "dsa"); !errors.Is(err, ErrKeyType) {
		t.Errorf("Generate of dsa = %v; want ErrKeyType", err)
	}
}

// TestPKCS11ServerTakesStore: signer.New takes the store as its keys.
func TestPKCS11ServerTakesStore(t *testing.T) {
	tok := softhsm.New(t, "server")
	st := open(t, tok)
	if _, err := st.Generate("ec", ECDSAP256); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "deploy")
	if err := signer.Init(dir); err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(signer.Config{Dir: dir, Keys: st})
	if err != nil {
		t.Fatal(err)
	}
	s.Stop(0)
}

// TestPKCS11OpenErrors: a missing module, a file that is no module, a
// token label the module lacks, a wrong PIN and an empty token each say
// so, naming the module or the token, never the PIN. Item 2 of "the
// signer in production".
func TestPKCS11OpenErrors(t *testing.T) {
	tok := softhsm.New(t, "errors")
	notModule := filepath.Join(t.TempDir(), "not-a-module.so")
	if err := os.WriteFile(notModule, []byte("text"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want error
		says string
	}{
		{"missing module", Config{Module: "/nonexistent/libpkcs11.so", Token: tok.Label, PIN: tok.PIN}, ErrModule, "/nonexistent/libpkcs11.so: stat"},
		{"not a module", Config{Module: notModule, Token: tok.Label, PIN: tok.PIN}, ErrModule, notModule},
		{"no such token", Config{Module: tok.Module, Token: "nope", PIN: tok.PIN}, ErrToken, `"nope"`},
		{"wrong PIN", Config{Module: tok.Module, Token: tok.Label, PIN: "wrong-pin-9"}, ErrPIN, "CKR_PIN_INCORRECT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := Open(c.cfg)
			if err == nil {
				st.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("Open = %v; want %v saying %s", err, c.want, c.says)
			}
			if strings.Contains(err.Error(), c.cfg.PIN) {
				t.Errorf("error %q holds the PIN", err)
			}
		})
	}
	t.Run("empty token", func(t *testing.T) {
		st := open(t, tok)
		if _, err := st.Keys(); !errors.Is(err, signer.ErrNoKeys) || !strings.Contains(err.Error(), tok.Label) {
			t.Errorf("Keys of an empty token = %v; want ErrNoKeys naming it", err)
		}
	})
}

// TestReadPIN: a PIN file is read less its trailing newline; one that
// group or others may read is refused as a key file is, with the fix;
// an empty one is refused. The errors never hold the PIN.
func TestReadPIN(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for data, want := range map[string]string{"s3cret\n": "s3cret", "s3cret\r\n": "s3cret", "s3cret": "s3cret", " sp ace \n\n": " sp ace \n"} {
		pin, err := ReadPIN(write("pin", data, 0o600))
		if err != nil || pin != want {
			t.Errorf("ReadPIN of %q = %q, %v; want %q", data, pin, err, want)
		}
	}
	open := write("open", "s3cret\n", 0o644)
	if _, err := ReadPIN(open); !errors.Is(err, signer.ErrTooOpen) || !strings.Contains(err.Error(), "chmod 600 "+open) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("ReadPIN of a file others read = %v; want ErrTooOpen with the chmod", err)
	}
	if _, err := ReadPIN(write("empty", "\n", 0o600)); !errors.Is(err, ErrEmptyPIN) {
		t.Errorf("ReadPIN of an empty file = %v; want ErrEmptyPIN", err)
	}
	if _, err := ReadPIN(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadPIN of no file = %v; want fs.ErrNotExist", err)
	}
}

// TestPKCS11KeysOfToken: the store serves a token's P-384 key too, names
// a key without label by its ID, and leaves out key pairs a signer does
// not serve (ECDSA on P-224); the keys sign from many goroutines at once.
func TestPKCS11KeysOfToken(t *testing.T) {
	tok := softhsm.New(t, "kinds")
	st := open(t, tok)
	if _, err := st.ctx.GenerateECDSAKeyPairWithLabel([]byte{1}, []byte("ec384"), elliptic.P384()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ctx.GenerateECDSAKeyPair([]byte{0xab, 0xcd}, elliptic.P256()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ctx.GenerateECDSAKeyPairWithLabel([]byte{3}, []byte("ec224"), elliptic.P224()); err != nil {
		t.Logf("SoftHSM2 makes no P-224 key (%v): that a store leaves one out is not checked", err)
	}
	keys, err := st.Keys()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range keys {
		names = append(names, k.Name)
	}
	if strings.Join(names, " ") != "ec384 id-abcd" {
		t.Fatalf("keys %q; want ec384 id-abcd", names)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				for _, k := range keys {
					d := digest(crypto.SHA256)
					sig, err := k.Signer.Sign(rand.Reader, d, crypto.SHA256)
					if err == nil && !ecdsa.VerifyASN1(k.Signer.Public().(*ecdsa.PublicKey), d, sig) {
						err = errors.New("signature does not verify")
					}
					if err != nil {
						errs <- fmt.Errorf("%s: %w", k.Name, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
