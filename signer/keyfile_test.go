package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Keys of each type, made once: RSA keys take a while under -race.
var (
	testECKey  = must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))
	testRSAKey = must(rsa.GenerateKey(rand.Reader, 2048))
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// writeKeyFile writes a key file of PEM blocks into dir, mode 0600.
func writeKeyFile(t *testing.T, dir, name string, blocks ...*pem.Block) string {
	t.Helper()
	var data []byte
	for _, b := range blocks {
		data = append(data, pem.EncodeToMemory(b)...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkSigns signs a digest with s and verifies it with want's public key.
func checkSigns(t *testing.T, s crypto.Signer, want crypto.Signer) {
	t.Helper()
	if !want.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Public()) {
		t.Fatalf("read key %T is not the key written", s.Public())
	}
	digest := sha256.Sum256([]byte("key file"))
	sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	switch pub := s.Public().(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest[:], sig) {
			t.Error("ECDSA signature does not verify")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
			t.Error(err)
		}
	}
}

// TestReadKeyFormats: PKCS #8, SEC1 and PKCS #1 key files all load and
// sign, whatever other blocks (a certificate, EC parameters) come first.
// Item 7 of "the signer in production": SEC1 and PKCS #1 were refused.
func TestReadKeyFormats(t *testing.T) {
	dir := t.TempDir()
	cert := &pem.Block{Type: "CERTIFICATE", Bytes: []byte("not parsed")}
	for _, c := range []struct {
		name  string
		key   crypto.Signer
		block *pem.Block
	}{
		{"pkcs8-ecdsa", testECKey, &pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(testECKey))}},
		{"pkcs8-rsa", testRSAKey, &pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(testRSAKey))}},
		{"sec1", testECKey, &pem.Block{Type: "EC PRIVATE KEY", Bytes: must(x509.MarshalECPrivateKey(testECKey))}},
		{"pkcs1", testRSAKey, &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testRSAKey)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			// openssl ecparam -genkey writes EC PARAMETERS first.
			path := writeKeyFile(t, dir, c.name+".key", cert, &pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 0}}, c.block)
			s, err := readPrivateKey(path)
			if err != nil {
				t.Fatal(err)
			}
			checkSigns(t, s, c.key)
		})
	}
}

// TestReadKeyWrongFormat: a file with no key the signer reads is refused
// with an error that names the file, the formats accepted and the openssl
// command that converts it (with -inform DER for DER). Item 7 of "the
// signer in production": the message named neither format nor fix.
func TestReadKeyWrongFormat(t *testing.T) {
	dir := t.TempDir()
	der := must(x509.MarshalPKCS8PrivateKey(testECKey))
	for _, c := range []struct {
		name, data string
		want       []string
	}{
		{"cert.key", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})), []string{`"CERTIFICATE"`, "openssl pkcs8 -topk8 -nocrypt -in "}},
		{"empty.key", "", []string{"no PEM block", "openssl pkcs8 -topk8 -nocrypt -in "}},
		{"der.key", string(der), []string{"DER", "openssl pkcs8 -topk8 -nocrypt -inform DER -in "}},
		{"ssh.key", "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", []string{`"OPENSSH PRIVATE KEY"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, c.name)
			if err := os.WriteFile(path, []byte(c.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := readPrivateKey(path)
			if !errors.Is(err, ErrKeyFormat) {
				t.Fatalf("readPrivateKey = %v; want ErrKeyFormat", err)
			}
			msg := err.Error()
			for _, w := range append(c.want, path, "PKCS #8", "SEC1", "PKCS #1", `"EC PRIVATE KEY"`, `"RSA PRIVATE KEY"`) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, base64.StdEncoding.EncodeToString(der)[:16]) {
				t.Errorf("error %q holds key material", msg)
			}
		})
	}
}

// TestReadKeyEncrypted: an encrypted key, PKCS #8 or OpenSSL's legacy
// encrypted PEM, is reported as encrypted, with the file and how to
// decrypt it; not as a format the signer does not know. Item 7 of "the
// signer in production".
func TestReadKeyEncrypted(t *testing.T) {
	dir := t.TempDir()
	//nolint:staticcheck // legacy encryption, made only to test its detection
	legacy, err := x509.EncryptPEMBlock(rand.Reader, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(testRSAKey), []byte("pass"), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*pem.Block{
		"pkcs8.key":  {Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0}},
		"legacy.key": legacy,
	} {
		t.Run(name, func(t *testing.T) {
			path := writeKeyFile(t, dir, name, b)
			_, err := readPrivateKey(path)
			if !errors.Is(err, ErrEncryptedKey) {
				t.Fatalf("readPrivateKey = %v; want ErrEncryptedKey", err)
			}
			for _, w := range []string{path, "encrypted", "openssl pkey -in " + path} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestDirKeysFormats: a keys directory of PKCS #8, SEC1 and PKCS #1
// files serves them all, each named by its file's stem; other files are
// not keys.
func TestDirKeysFormats(t *testing.T) {
	dir := t.TempDir()
	writeKeyFile(t, dir, "a.key", &pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(testECKey))})
	writeKeyFile(t, dir, "b.key", &pem.Block{Type: "EC PRIVATE KEY", Bytes: must(x509.MarshalECPrivateKey(testECKey))})
	writeKeyFile(t, dir, "c.key", &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testRSAKey)})
	writeKeyFile(t, dir, "README", &pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})
	keys, err := DirKeys(dir).Keys()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range keys {
		names = append(names, k.Name)
	}
	if strings.Join(names, " ") != "a b c" {
		t.Errorf("keys %q; want a b c", names)
	}
}

// TestDirKeysMissing: no keys directory, or none in it, is ErrNoKeys,
// saying why.
func TestDirKeysMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := DirKeys(filepath.Join(dir, "nope")).Keys(); !errors.Is(err, ErrNoKeys) || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Keys of a missing dir = %v; want ErrNoKeys saying no such file", err)
	}
	if _, err := DirKeys(dir).Keys(); !errors.Is(err, ErrNoKeys) || !strings.Contains(err.Error(), dir) {
		t.Errorf("Keys of an empty dir = %v; want ErrNoKeys naming it", err)
	}
}

// TestDirKeysUnreadable: a keys directory, or a key file, the signer may
// not read is reported as that, with its path: never as "no signing
// keys". Item 7 of "the signer in production": filepath.Glob took an
// unreadable keys/ for an empty one.
func TestDirKeysUnreadable(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	path := writeKeyFile(t, keys, "a.key", &pem.Block{Type: "PRIVATE KEY", Bytes: must(x509.MarshalPKCS8PrivateKey(testECKey))})
	for _, c := range []struct {
		name, path string
	}{{"dir", keys}, {"file", path}} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.Chmod(c.path, 0); err != nil {
				t.Fatal(err)
			}
			defer os.Chmod(c.path, 0o700)
			var err error
			unprivileged(t, func() { _, err = DirKeys(keys).Keys() })
			if err == nil || errors.Is(err, ErrNoKeys) || !errors.Is(err, os.ErrPermission) {
				t.Fatalf("Keys = %v; want permission denied", err)
			}
			if !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), "permission denied") {
				t.Errorf("error %q does not name %s and permission denied", err, c.path)
			}
		})
	}
}

// TestNewSEC1AndPKCS1: a deployment whose keys were converted to SEC1 and
// PKCS #1 (as openssl's older commands write them) serves them, under the
// same key IDs. Item 7 of "the signer in production".
func TestNewSEC1AndPKCS1(t *testing.T) {
	dir := t.TempDir()
	dep := filepath.Join(dir, "deploy")
	if err := os.CopyFS(dep, os.DirFS(testDir)); err != nil {
		t.Fatal(err)
	}
	// CopyFS leaves files others may read: close them, as Init does.
	err := filepath.WalkDir(dep, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o700)
		}
		return os.Chmod(p, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	convert := func(name string, f func(crypto.Signer) *pem.Block) {
		path := filepath.Join(dep, keysDir, name+".key")
		k, err := readPrivateKey(path)
		if err != nil {
			t.Fatal(err)
		}
		writeKeyFile(t, filepath.Dir(path), name+".key", f(k))
	}
	convert("ecdsap256", func(k crypto.Signer) *pem.Block {
		return &pem.Block{Type: "EC PRIVATE KEY", Bytes: must(x509.MarshalECPrivateKey(k.(*ecdsa.PrivateKey)))}
	})
	convert("rsa2048", func(k crypto.Signer) *pem.Block {
		return &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k.(*rsa.PrivateKey))}
	})
	s, err := New(Config{Dir: dep})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(0)
	want, _ := loadTestKeys(t)
	if len(s.ring.Load().keys) != len(want) {
		t.Fatalf("serving %d keys; want %d", len(s.ring.Load().keys), len(want))
	}
	for id := range want {
		if s.ring.Load().keys[id] == nil {
			t.Errorf("key %s of the original deployment not served", want[id].name)
		}
	}
}
