package signd

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The files of a deployment, relative to its directory.
const (
	caCertFile     = "ca.pem"
	caKeyFile      = "ca-key.pem"
	serverCertFile = "server.pem"
	serverKeyFile  = "server-key.pem"
	clientCertFile = "client.pem"
	clientKeyFile  = "client-key.pem"
	keysDir        = "keys"
	certsDir       = "certs"
)

// signingKeys are the keys Init makes, by file stem.
var signingKeys = []struct {
	name string
	gen  func() (crypto.Signer, error)
}{
	{"ecdsap256", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
	{"ed25519", func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }},
	{"rsa2048", func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, 2048) }},
}

// validity is how long the certificates Init makes are valid.
const validity = 10 * 365 * 24 * time.Hour

// Init writes a ready deployment into dir, creating dir if needed:
//
//	ca.pem, ca-key.pem               a CA
//	server.pem, server-key.pem       the signer's identity, for localhost and 127.0.0.1
//	client.pem, client-key.pem       a client's identity
//	keys/{ecdsap256,ed25519,rsa2048}.key    signing keys, PKCS #8 PEM
//	certs/{ecdsap256,ed25519,rsa2048}.pem   a certificate for each signing key,
//	                                         for localhost and 127.0.0.1
//
// all certificates signed by the CA. Private keys are written with mode
// 0600. Init refuses to overwrite any file: if one of them exists it
// writes nothing and returns an error wrapping fs.ErrExist. On any other
// failure it removes the files it wrote.
func Init(dir string) error {
	for _, name := range deploymentFiles() {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("signd: init %s: %s: %w", dir, name, fs.ErrExist)
		}
	}
	files, err := newDeployment()
	if err != nil {
		return fmt.Errorf("signd: init: %w", err)
	}
	for _, d := range []struct {
		name string
		perm fs.FileMode
	}{{"", 0o755}, {keysDir, 0o700}, {certsDir, 0o755}} {
		if err := os.MkdirAll(filepath.Join(dir, d.name), d.perm); err != nil {
			return fmt.Errorf("signd: init: %w", err)
		}
	}
	for i, f := range files {
		if err := writeNew(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			for _, g := range files[:i] {
				os.Remove(filepath.Join(dir, g.name))
			}
			return fmt.Errorf("signd: init: %w", err)
		}
	}
	return nil
}

// deploymentFiles lists the files Init writes.
func deploymentFiles() []string {
	names := []string{caCertFile, caKeyFile, serverCertFile, serverKeyFile, clientCertFile, clientKeyFile}
	for _, sk := range signingKeys {
		names = append(names, filepath.Join(keysDir, sk.name+".key"), filepath.Join(certsDir, sk.name+".pem"))
	}
	return names
}

// writeNew writes a file that must not exist yet (O_EXCL: the check in
// Init is only there to write nothing at all when one does).
func writeNew(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

type deployFile struct {
	name string
	data []byte
	perm fs.FileMode
}

// newDeployment makes every key and certificate of a deployment in memory.
func newDeployment() ([]deployFile, error) {
	var files []deployFile
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := caTemplate("asyncsignd CA", now)
	caDER, caCert, err := issue(caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	keyFile := func(name string, k crypto.Signer) error {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return err
		}
		files = append(files, deployFile{name, pemBlock("PRIVATE KEY", der), 0o600})
		return nil
	}
	certFile := func(name string, der []byte) {
		files = append(files, deployFile{name, pemBlock("CERTIFICATE", der), 0o644})
	}
	certFile(caCertFile, caDER)
	if err := keyFile(caKeyFile, caKey); err != nil {
		return nil, err
	}
	leaf := func(cn string, pub crypto.PublicKey, usage x509.ExtKeyUsage) ([]byte, error) {
		der, _, err := issue(leafTemplate(cn, pub, usage, now), caCert, pub, caKey)
		return der, err
	}
	for _, id := range []struct {
		cert, key, cn string
		usage         x509.ExtKeyUsage
	}{
		{serverCertFile, serverKeyFile, "asyncsignd", x509.ExtKeyUsageServerAuth},
		{clientCertFile, clientKeyFile, "asyncsignd client", x509.ExtKeyUsageClientAuth},
	} {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := leaf(id.cn, k.Public(), id.usage)
		if err != nil {
			return nil, err
		}
		certFile(id.cert, der)
		if err := keyFile(id.key, k); err != nil {
			return nil, err
		}
	}
	for _, sk := range signingKeys {
		k, err := sk.gen()
		if err != nil {
			return nil, err
		}
		if err := keyFile(filepath.Join(keysDir, sk.name+".key"), k); err != nil {
			return nil, err
		}
		der, err := leaf("localhost", k.Public(), x509.ExtKeyUsageServerAuth)
		if err != nil {
			return nil, err
		}
		certFile(filepath.Join(certsDir, sk.name+".pem"), der)
	}
	return files, nil
}

// caTemplate is the template of a CA certificate valid from now.
func caTemplate(cn string, now time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
}

// leafTemplate is the template of a certificate for pub, valid from now,
// for usage; a server's is for localhost and 127.0.0.1.
func leafTemplate(cn string, pub crypto.PublicKey, usage x509.ExtKeyUsage, now time.Time) *x509.Certificate {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	if _, ok := pub.(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	return tmpl
}

// issue signs tmpl as parent with a fresh random serial number.
func issue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return der, cert, err
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
