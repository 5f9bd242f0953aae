package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	pb "github.com/seed-e1024768/async/internal/signpb"
	"github.com/seed-e1024768/async/signer"
)

// selfSigned returns a client certificate no CA of the signer's signed.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "stranger"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestServeRefusesStrangers: the binary serves only clients with a
// certificate from its CA, over TLS 1.3.
func TestServeRefusesStrangers(t *testing.T) {
	s := startServer(t)
	good, err := signer.ClientTLS(deploy)
	if err != nil {
		t.Fatal(err)
	}
	stranger := good.Clone()
	stranger.Certificates = []tls.Certificate{selfSigned(t)}
	anonymous := good.Clone()
	anonymous.Certificates = nil
	tls12 := good.Clone()
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	for _, c := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"the deployment's client", good, true},
		{"a self-signed client", stranger, false},
		{"no client certificate", anonymous, false},
		{"TLS 1.2", tls12, false},
	} {
		conn, err := grpc.NewClient(s.Addr, grpc.WithTransportCredentials(credentials.NewTLS(c.cfg)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = pb.NewSignerClient(conn).Stats(testContext(t), &pb.StatsRequest{})
		conn.Close()
		if c.ok && err != nil || !c.ok && status.Code(err) != codes.Unavailable {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
