package signd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
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
	now := time.Now()
	tmpl := caTemplate("another CA", now)
	_, ca, err := issue(tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	der, _, err := issue(leafTemplate("intruder", key.Public(), x509.ExtKeyUsageClientAuth, now), ca, key.Public(), key)
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

// TestStopWithHealthWatch: a client watching the server's health does
// not hold Stop to its timeout.
func TestStopWithHealthWatch(t *testing.T) {
	sv := serve(t, Config{})
	w, err := healthpb.NewHealthClient(sv.conn).Watch(testContext(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v, %v", r, err)
	}
	start := time.Now()
	sv.s.Stop(10 * time.Second)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Stop took %v", el)
	}
	for {
		r, err := w.Recv()
		if err != nil {
			break
		}
		if r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("watch while stopping: %v", r.Status)
		}
	}
}
