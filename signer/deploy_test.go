package signer

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInitLayout(t *testing.T) {
	for _, name := range deploymentFiles() {
		fi, err := os.Stat(filepath.Join(testDir, name))
		if err != nil {
			t.Fatal(err)
		}
		private := filepath.Dir(name) == keysDir || strings.HasSuffix(name, "-key.pem")
		if mode := fi.Mode().Perm(); private && mode != 0o600 {
			t.Errorf("%s: mode %v, want 0600", name, mode)
		}
	}
	// Each role's certificates verify against their own CA only.
	cas := map[string]*x509.Certificate{}
	for _, name := range []string{caCertFile, signerCACertFile, clientCACertFile} {
		if cas[name] = readCert(t, name); !cas[name].IsCA {
			t.Errorf("%s is not a CA", name)
		}
	}
	for _, c := range []struct {
		name, ca string
		usage    x509.ExtKeyUsage
	}{
		{serverCertFile, signerCACertFile, x509.ExtKeyUsageServerAuth},
		{"certs/ecdsap256.pem", caCertFile, x509.ExtKeyUsageServerAuth},
		{"certs/ed25519.pem", caCertFile, x509.ExtKeyUsageServerAuth},
		{"certs/rsa2048.pem", caCertFile, x509.ExtKeyUsageServerAuth},
		{clientCertFile, clientCACertFile, x509.ExtKeyUsageClientAuth},
	} {
		leaf := readCert(t, c.name)
		for caName, ca := range cas {
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			for _, host := range []string{"localhost", "127.0.0.1"} {
				if c.usage == x509.ExtKeyUsageClientAuth {
					host = ""
				}
				_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, KeyUsages: []x509.ExtKeyUsage{c.usage}})
				if ok := caName == c.ca; ok != (err == nil) {
					t.Errorf("%s against %s for %q: %v", c.name, caName, host, err)
				}
			}
		}
	}
	if cn := readCert(t, clientCertFile).Subject.CommonName; cn != DefaultClientName {
		t.Errorf("client.pem names %q, want %q", cn, DefaultClientName)
	}
	// Each signing key's certificate holds that key.
	keys, byName := loadTestKeys(t)
	if len(keys) != len(signingKeys) {
		t.Errorf("%d keys, want %d", len(keys), len(signingKeys))
	}
	for name, k := range byName {
		c := readCert(t, filepath.Join(certsDir, name+".pem"))
		if id, _ := KeyID(c.PublicKey); k == nil || id != k.id {
			t.Errorf("certs/%s.pem does not hold keys/%s.key", name, name)
		}
	}
}

func readCert(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	return readCertAt(t, filepath.Join(testDir, name))
}

func readCertAt(t *testing.T, name string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s: no certificate", name)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(c.NotAfter) < 365*24*time.Hour {
		t.Errorf("%s expires %v", name, c.NotAfter)
	}
	return c
}

func TestInitRefusesToOverwrite(t *testing.T) {
	for _, name := range []string{caCertFile, "keys/rsa2048.key", "certs/ed25519.pem"} {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte("mine"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := Init(dir); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("Init over %s: %v, want fs.ErrExist", name, err)
		}
		if data, _ := os.ReadFile(filepath.Join(dir, name)); string(data) != "mine" {
			t.Errorf("%s overwritten", name)
		}
		for _, other := range deploymentFiles() {
			if _, err := os.Lstat(filepath.Join(dir, other)); other != name && err == nil {
				t.Errorf("Init over %s wrote %s", name, other)
			}
		}
	}
}

func TestKeyID(t *testing.T) {
	c := readCert(t, "certs/ecdsap256.pem")
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	id, err := KeyID(c.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(sum[:]); id != want {
		t.Errorf("KeyID = %s, want %s", id, want)
	}
	if _, err := KeyID(struct{}{}); err == nil {
		t.Errorf("KeyID of a non-key: no error")
	}
}

func TestReadCert(t *testing.T) {
	c, err := ReadCert(testDir, "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	if want := readCert(t, "certs/ed25519.pem"); !c.Equal(want) {
		t.Errorf("ReadCert = %v; want certs/ed25519.pem's certificate", c.Subject)
	}
	if _, err := ReadCert(testDir, "nosuchkey"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadCert of a missing name = %v; want fs.ErrNotExist", err)
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "certs"), 0o755)
	os.WriteFile(filepath.Join(dir, "certs", "x.pem"), []byte("not PEM"), 0o644)
	if _, err := ReadCert(dir, "x"); !errors.Is(err, ErrNoPEM) {
		t.Errorf("ReadCert of a file with no PEM = %v; want ErrNoPEM", err)
	}
}

// TestClientTLSReadsOnlyItsFiles: a client needs signer-ca.pem, client.pem and
// client-key.pem, and nothing else of the deployment.
func TestClientTLSReadsOnlyItsFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{signerCACertFile, clientCertFile, clientKeyFile} {
		data, err := os.ReadFile(filepath.Join(testDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := ClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != 0x0304 || len(cfg.Certificates) != 1 || cfg.RootCAs == nil {
		t.Errorf("ClientTLS = %+v", cfg)
	}
	os.Remove(filepath.Join(dir, signerCACertFile))
	if _, err := ClientTLS(dir); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrOldDeployment) {
		t.Errorf("ClientTLS without signer-ca.pem: %v", err)
	}
}
