package signer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyFormats (first contact, item 7 of the signer in production:
// SEC1 and PKCS #1 key files were refused, with a message that named
// neither the format wanted nor the fix): PKCS #8, SEC1 and PKCS #1 PEM
// keys load; anything else is ErrKeyFormat, naming the file, what it
// holds, and the openssl command that converts it.
func TestKeyFormats(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for name, data := range map[string][]byte{
		"pkcs8.key": pemBlock("PRIVATE KEY", pkcs8),
		"sec1.key":  append(pemBlock("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), pemBlock("EC PRIVATE KEY", sec1)...),
		"pkcs1.key": pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)),
	} {
		k, err := readPrivateKey(write(name, data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want := map[bool]any{true: &rk.PublicKey, false: &ec.PublicKey}[name == "pkcs1.key"]; !publicKeysEqual(k.Public(), want) {
			t.Errorf("%s: read another key", name)
		}
	}
	for name, c := range map[string]struct {
		data []byte
		says string
	}{
		"encrypted.key": {pemBlock("ENCRYPTED PRIVATE KEY", []byte{1, 2, 3}), `"ENCRYPTED PRIVATE KEY"`},
		"text.key":      {[]byte("not a key"), "no PEM block"},
		"broken.key":    {pemBlock("EC PRIVATE KEY", []byte{1, 2, 3}), "EC PRIVATE KEY block does not parse"},
	} {
		path := write(name, c.data)
		_, err := readPrivateKey(path)
		if !errors.Is(err, ErrKeyFormat) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.says) ||
			!strings.Contains(err.Error(), "openssl pkcs8 -topk8 -nocrypt") {
			t.Errorf("%s: %v; want ErrKeyFormat naming the file, saying %s, and the fix", name, err, c.says)
		}
	}
}

// TestDirKeysSaysWhy (item 7 of the signer in production: an unreadable
// keys/ was reported as "no signing keys"): a keys directory that is
// missing or cannot be read is an error that says so and names it; an
// empty one is ErrNoKeys.
func TestDirKeysSaysWhy(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	if _, err := DirKeys(missing).Keys(); !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNoKeys) || !strings.Contains(err.Error(), missing) {
		t.Errorf("a missing keys dir: %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := DirKeys(file).Keys(); err == nil || errors.Is(err, ErrNoKeys) || !strings.Contains(err.Error(), file) {
		t.Errorf("a keys dir that is a file: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o700)
	if _, err := DirKeys(empty).Keys(); !errors.Is(err, ErrNoKeys) {
		t.Errorf("an empty keys dir: %v, want ErrNoKeys", err)
	}
}
