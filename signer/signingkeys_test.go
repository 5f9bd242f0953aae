package signer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
)

// initKeyNames are the signing keys a deployment holds, as the commands
// document them, with the type and size each name promises.
var initKeyNames = []struct {
	name string
	typ  string
	bits int
}{
	{"ecdsap256", "ECDSA", 256},
	{"ecdsap384", "ECDSA", 384},
	{"ecdsap521", "ECDSA", 521},
	{"rsa2048", "RSA", 2048},
	{"rsa3072", "RSA", 3072},
	{"rsa4096", "RSA", 4096},
	{"ed25519", "Ed25519", 0},
}

// TestInitSigningKeys: Init writes keys/NAME.key (mode 0600) and
// certs/NAME.pem for every key type and size a TLS certificate commonly
// holds, each key of the type and size its name says, each certificate
// holding its key and valid, from the site CA, for localhost, 127.0.0.1
// and NAME.localhost, and not for another key's NAME.localhost (item 2
// of keyless for real sites).
func TestInitSigningKeys(t *testing.T) {
	ca := x509.NewCertPool()
	ca.AddCert(readCert(t, caCertFile))
	for _, want := range initKeyNames {
		keyPath := filepath.Join(testDir, keysDir, want.name+".key")
		fi, err := os.Stat(keyPath)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", keyPath, fi.Mode().Perm())
		}
		s, err := readPrivateKey(keyPath)
		if err != nil {
			t.Fatal(err)
		}
		var typ string
		bits := 0
		switch pub := s.Public().(type) {
		case *ecdsa.PublicKey:
			typ, bits = "ECDSA", pub.Curve.Params().BitSize
		case *rsa.PublicKey:
			typ, bits = "RSA", pub.N.BitLen()
		case ed25519.PublicKey:
			typ = "Ed25519"
		}
		if typ != want.typ || bits != want.bits {
			t.Errorf("keys/%s.key is %s of %d bits", want.name, typ, bits)
		}
		cert := readCert(t, filepath.Join(certsDir, want.name+".pem"))
		id, _ := KeyID(s.Public())
		if cid, _ := KeyID(cert.PublicKey); cid != id {
			t.Errorf("certs/%s.pem does not hold keys/%s.key", want.name, want.name)
		}
		other := "rsa2048.localhost"
		if want.name == "rsa2048" {
			other = "ed25519.localhost"
		}
		for host, ok := range map[string]bool{"localhost": true, "127.0.0.1": true, want.name + ".localhost": true, other: false} {
			_, err := cert.Verify(x509.VerifyOptions{DNSName: host, Roots: ca, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if (err == nil) != ok {
				t.Errorf("certs/%s.pem for %s: %v, want valid %v", want.name, host, err, ok)
			}
		}
	}
	if len(signingKeys) != len(initKeyNames) {
		t.Errorf("Init makes %d keys, want %d", len(signingKeys), len(initKeyNames))
	}
}

// TestCosts: each key of the deployment costs what was measured for its
// type and size (see admit.go), and the quantum, the cost of a turn, is
// that of an RSA-2048 signature though the deployment holds costlier
// keys (item 1 of keyless for real sites).
func TestCosts(t *testing.T) {
	keys, byName := loadTestKeys(t)
	for name, want := range map[string]int64{
		"ecdsap256": costECDSA, "ecdsap384": costECDSAP384, "ecdsap521": costECDSAP521, "ed25519": costEd25519,
		"rsa2048": costRSA2048, "rsa3072": costRSA3072, "rsa4096": costRSA4096,
	} {
		if got := byName[name].cost; got != want {
			t.Errorf("%s costs %d, want %d", name, got, want)
		}
	}
	if q := quantum(keys); q != costRSA2048 {
		t.Errorf("quantum %d, want %d", q, costRSA2048)
	}
	for bits, want := range map[int]int64{2048: 128, 2560: 228, 3072: 395, 3584: 576, 4096: 860, 8192: 8 * 860} {
		if got := rsaCost(bits); got != want {
			t.Errorf("rsaCost(%d) = %d, want %d", bits, got, want)
		}
	}
	if c := rsaCost(1 << 20); c <= 0 {
		t.Errorf("rsaCost of a huge key = %d", c)
	}
}
