//go:build linux

package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests' own site CA, for the certificates they add to a deployment:
// the deployment's CA key is the signer's business (and may not be in
// DIR at all). Its certificate goes into DIR/test-ca.pem, which the
// tests' clients trust besides DIR/ca.pem.
var (
	testCAOnce sync.Once
	testCA     *x509.Certificate
	testCAKey  crypto.Signer
	testCAPEM  []byte
	testCAErr  error
)

const testCAFile = "test-ca.pem"

func siteCA(t testing.TB) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	testCAOnce.Do(func() {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			testCAErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "keyless test site CA"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageCertSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
		if err != nil {
			testCAErr = err
			return
		}
		testCA, testCAErr = x509.ParseCertificate(der)
		testCAKey = k
		testCAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	})
	if testCAErr != nil {
		t.Fatal(testCAErr)
	}
	return testCA, testCAKey
}

// issueSite writes DIR/certs/name.pem: a certificate for pub, issued by
// the tests' CA, for dnsNames and 127.0.0.1. It makes the CA's
// certificate DIR/test-ca.pem.
func issueSite(t testing.TB, dir, name string, pub crypto.PublicKey, dnsNames ...string) {
	t.Helper()
	ca, caKey := siteCA(t)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: dnsNames[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     dnsNames,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	if _, ok := pub.(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "certs", name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	if _, err := os.Stat(filepath.Join(dir, testCAFile)); err != nil {
		writeFile(t, filepath.Join(dir, testCAFile), testCAPEM, 0o644)
	}
}

// writeKey writes DIR/keys/name.key, for a signer to serve.
func writeKey(t testing.TB, dir, name string, k crypto.Signer) {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "keys", name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
}

func writeFile(t testing.TB, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}

// siteNames returns the stems of DIR/certs/*.pem, sorted.
func siteNames(t testing.TB, dir string) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "certs", "*.pem"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".pem"))
	}
	slices.Sort(names)
	return names
}

// siteDeployment is the shared deployment (asyncsignd init), whose every
// certificate certs/NAME.pem names NAME.localhost: a test fails at once
// if one does not.
func siteDeployment(t testing.TB) string {
	t.Helper()
	dir := deployment(t)
	for _, name := range siteNames(t, dir) {
		cert, err := readChain(filepath.Join(dir, "certs", name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(cert.Leaf.DNSNames, name+".localhost") {
			t.Fatalf("certs/%s.pem does not name %s.localhost", name, name)
		}
	}
	return dir
}

// caFile returns a file with every CA of dir's sites: DIR/ca.pem, and the
// tests' CA if they issued any of them.
func caFile(t testing.TB, dir string) string {
	t.Helper()
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	extra, err := os.ReadFile(filepath.Join(dir, testCAFile))
	if os.IsNotExist(err) {
		return filepath.Join(dir, "ca.pem")
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cas.pem")
	writeFile(t, path, append(ca, extra...), 0o644)
	return path
}

// readPEMKey reads a PKCS #8 PEM private key: a test's, not the server's,
// which never reads one.
func readPEMKey(t testing.TB, path string) crypto.Signer {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return k.(crypto.Signer)
}
