package signer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestIssueSiteCert: a certificate for a key kept outside the deployment
// (a token's) is issued by the site CA for localhost, 127.0.0.1 and
// NAME.localhost, is never written over, and takes only a safe name.
func TestIssueSiteCert(t *testing.T) {
	dir := t.TempDir()
	for f, from := range map[string]string{caCertFile: testDir, caKeyFile: CADir(testDir)} {
		data, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	if err := IssueSiteCert(dir, "tok", k.Public()); err != nil {
		t.Fatal(err)
	}
	cert, err := ReadCert(dir, "tok")
	if err != nil {
		t.Fatal(err)
	}
	if !k.PublicKey.Equal(cert.PublicKey) {
		t.Error("the certificate is not for the key")
	}
	roots, err := readCertPool(filepath.Join(dir, caCertFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "tok.localhost"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("for %s: %v", host, err)
		}
	}
	if err := IssueSiteCert(dir, "tok", k.Public()); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second IssueSiteCert = %v; want fs.ErrExist", err)
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden"} {
		if err := IssueSiteCert(dir, bad, k.Public()); !errors.Is(err, ErrKeyName) {
			t.Errorf("IssueSiteCert(%q) = %v; want ErrKeyName", bad, err)
		}
	}
}
