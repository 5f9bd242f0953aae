package signer

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNoPEM is returned (wrapped) when a file that should hold a PEM block
// of some type holds none.
var ErrNoPEM = errors.New("signer: no PEM block of the expected type")

// ReadCert reads the certificate of a deployment's signing key name
// (ecdsap256, ecdsap384, ecdsap521, rsa2048, rsa3072, rsa4096 or ed25519;
// see Init): dir/certs/name.pem, what a TLS front end serves, and whose
// public key names the key (KeyID(cert.PublicKey)). It holds no private key. Its errors are those
// of reading the file, ErrNoPEM, and x509's.
func ReadCert(dir, name string) (*x509.Certificate, error) {
	path := filepath.Join(dir, certsDir, name+".pem")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("signer: %s: %w", path, ErrNoPEM)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signer: %s: %w", path, err)
	}
	return c, nil
}

// readCertPool reads a PEM file of CA certificates.
func readCertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoPEM)
	}
	return pool, nil
}

// ClientTLS returns a TLS 1.3-only client configuration for a signer
// deployed in dir (see Init), or for a client directory AddClient wrote:
// it reads only dir's signer-ca.pem, client.pem and client-key.pem,
// presents the client certificate and verifies the server against
// signer-ca.pem alone, for the name localhost (set ServerName to dial the
// signer by another name its certificate holds). So only a certificate of
// the signer's role is taken for a signer's: not a front end's (certs/,
// the site CA's) nor a client's (the client CA's). Its errors are those of
// reading and parsing the three files, and ErrOldDeployment for a
// deployment an older Init wrote.
func ClientTLS(dir string) (*tls.Config, error) {
	pool, err := readCertPool(filepath.Join(dir, signerCACertFile))
	if err != nil {
		return nil, fmt.Errorf("signer: client TLS: %w", oldDeployment(dir, err))
	}
	cert, err := loadKeyPair(dir, clientCertFile, clientKeyFile)
	if err != nil {
		return nil, fmt.Errorf("signer: client TLS: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      pool,
		Certificates: []tls.Certificate{cert},
		ServerName:   "localhost",
	}, nil
}

// serverTLS is the server's side: TLS 1.3 only, client certificates
// required and verified against client-ca.pem alone, so that neither the
// signer's certificate nor a front end's is taken for a client's.
func serverTLS(dir string) (*tls.Config, error) {
	pool, err := readCertPool(filepath.Join(dir, clientCACertFile))
	if err != nil {
		return nil, oldDeployment(dir, err)
	}
	cert, err := loadKeyPair(dir, serverCertFile, serverKeyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// loadKeyPair is tls.LoadX509KeyPair, with errors that name the files:
// its own name only the PEM data at fault.
func loadKeyPair(dir, certName, keyName string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
		err = fmt.Errorf("%s, %s: %w", certPath, keyPath, err)
	}
	return cert, err
}
