//go:build linux

package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"path/filepath"
	"testing"

	"github.com/seed-e1024768/async/loop"
)

// TestTLSServerWithRemoteKey: a crypto/tls server whose private keys are
// remote Signers completes TLS 1.3 handshakes with each key type (ECDSA,
// Ed25519, RSA-PSS), the client verifying the chain against the site CA: the
// Signer is a crypto.Signer crypto/tls can use, and its signatures verify.
func TestTLSServerWithRemoteKey(t *testing.T) {
	_, dir, _ := testSignd(t)
	e := dial(t, Config{}, startSigner(t, dir))
	// The front ends' certificates come from the site CA, ca.pem: what
	// a browser trusts (the signer CA is for signers only).
	roots := certPool(t, filepath.Join(dir, "ca.pem"))
	for _, name := range []string{"ecdsap256", "ed25519", "rsa2048"} {
		t.Run(name, func(t *testing.T) {
			sg, err := e.Signer(context.Background(), keyID(t, dir, name))
			if err != nil {
				t.Fatal(err)
			}
			leaf := certOf(t, dir, name)
			srvCfg := &tls.Config{
				MinVersion: tls.VersionTLS13,
				GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
					return &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: sg.WithContext(hello.Context()), Leaf: leaf}, nil
				},
			}
			c1, c2 := net.Pipe()
			defer c1.Close()
			defer c2.Close()
			srvErr := make(chan error, 1)
			go func() {
				s := tls.Server(c1, srvCfg)
				srvErr <- s.Handshake()
				s.Close()
			}()
			cl := tls.Client(c2, &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS13})
			if err := cl.Handshake(); err != nil {
				t.Fatalf("client handshake: %v", err)
			}
			if err := <-srvErr; err != nil {
				t.Fatalf("server handshake: %v", err)
			}
			if got := cl.ConnectionState().PeerCertificates[0]; !got.Equal(leaf) {
				t.Fatal("wrong peer certificate")
			}
			var _ *x509.Certificate = leaf
		})
	}
}

var _ = loop.ModeFD
