package remotemetrics_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/promtest"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/seed-e1024768/async/remote"
	"github.com/seed-e1024768/async/remote/remotemetrics"
	"github.com/seed-e1024768/async/signer"
)

// scrape returns reg's series by name and labels.
func scrape(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	return promtest.Scrape(t, reg)
}

// TestCollector: an engine registered through New shows its requests
// sent and answered, and its signers, one up and one that listens to
// nobody.
func TestCollector(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := filepath.Join(t.TempDir(), "deploy")
	if err := signer.Init(dir); err != nil {
		t.Fatal(err)
	}
	srv, err := signer.New(signer.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() { srv.Stop(time.Second); <-served }()
	// An address nothing listens on: a signer that is down.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	tlsCfg, err := signer.ClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := remote.New(remote.Config{Addrs: []string{lis.Addr().String(), deadAddr}, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(remotemetrics.New(e))

	cert, err := signer.ReadCert(dir, "ecdsap256")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := e.Signer(ctx, remote.KeyID(cert.RawSubjectPublicKeyInfo))
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		d := sha256.Sum256([]byte{byte(i)})
		if _, err := s.Sign(rand.Reader, d[:], crypto.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	m := scrape(t, reg)
	up := `asyncsign_remote_signer_up{signer="` + lis.Addr().String() + `"}`
	for series, want := range map[string]float64{
		"asyncsign_remote_requests_sent_total":                               n,
		"asyncsign_remote_answers_total":                                     n,
		"asyncsign_remote_denied_total":                                      0,
		`asyncsign_remote_outstanding{signer="` + lis.Addr().String() + `"}`: 0,
		up: 1,
		`asyncsign_remote_signer_up{signer="` + deadAddr + `"}`:      0,
		`asyncsign_remote_signer_refused{signer="` + deadAddr + `"}`: 0,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
}

// TestRemoteImportsNoPrometheus: package remote itself does not import
// Prometheus (only this package does), so that a program that wants no
// metrics library gets none.
func TestRemoteImportsNoPrometheus(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list package remote's dependencies")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/seed-e1024768/async/remote").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "prometheus") {
			t.Errorf("package remote depends on %s", dep)
		}
	}
}
