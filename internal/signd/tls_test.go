package signd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// foreignClient returns a client certificate from a CA the signer does
// not trust.
func foreignClient(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "another CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	_, ca, err := issue(tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "intruder"},
		NotBefore:   time.Now().Add(-time.Hour),
		NotAfter:    time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, _, err := issue(leaf, ca, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestMutualTLS: only a client with a certificate from the deployment's
// CA, speaking TLS 1.3, is served.
func TestMutualTLS(t *testing.T) {
	sv := serve(t, Config{})
	good, err := ClientTLS(testDir)
	if err != nil {
		t.Fatal(err)
	}
	foreign := good.Clone()
	foreign.Certificates = []tls.Certificate{foreignClient(t)}
	none := good.Clone()
	none.Certificates = nil
	tls12 := good.Clone()
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	for _, c := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"deployment's client", good, true},
		{"client of another CA", foreign, false},
		{"no client certificate", none, false},
		{"TLS 1.2 only", tls12, false},
	} {
		conn, err := grpc.NewClient(sv.addr, grpc.WithTransportCredentials(credentials.NewTLS(c.cfg)))
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

func TestHealth(t *testing.T) {
	sv := serve(t, Config{})
	h := healthpb.NewHealthClient(sv.conn)
	for _, svc := range []string{"", pb.Signer_ServiceDesc.ServiceName} {
		r, err := h.Check(testContext(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v, %v", svc, r, err)
		}
	}
}
