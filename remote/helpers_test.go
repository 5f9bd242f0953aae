//go:build linux

package remote

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/seed-e1024768/async/internal/signpb"
	"github.com/seed-e1024768/async/internal/signtest"
	"github.com/seed-e1024768/async/signer"
)

// The tests run real signers: cmd/asyncsignd, built once per test binary
// into a temporary directory, with two deployments (CAs, certificates and
// keys) made by `asyncsignd init`.
var built struct {
	once      sync.Once
	err       error
	tmp       string
	bin       string
	dir, evil string // our deployment, and another with its own CA
}

// testSignd returns the built signer binary and the deployment dirs, or
// skips the test if the go tool is missing.
func testSignd(t testing.TB) (bin, dir, evil string) {
	t.Helper()
	built.once.Do(func() {
		var err error
		built.tmp, err = os.MkdirTemp("", "remote-test-")
		if err != nil {
			built.err = err
			return
		}
		built.bin, built.err = signtest.Build(built.tmp, "asyncsignd", "github.com/seed-e1024768/async/cmd/asyncsignd")
		if built.err != nil {
			return
		}
		built.dir = filepath.Join(built.tmp, "deploy")
		built.evil = filepath.Join(built.tmp, "other")
		// At once: each makes an RSA-4096 key, which takes a while.
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, d := range []string{built.dir, built.evil} {
			wg.Go(func() {
				if out, err := exec.Command(built.bin, "init", d).CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("asyncsignd init: %v\n%s", err, out)
				}
			})
		}
		wg.Wait()
		built.err = errors.Join(errs...)
	})
	if built.err != nil {
		if errors.Is(built.err, signtest.ErrNoGo) {
			t.Skip(built.err)
		}
		t.Fatal(built.err)
	}
	return built.bin, built.dir, built.evil
}

// startSigner starts `asyncsignd serve` for the deployment dir on a free
// loopback port, with extra flags; the test's end kills it.
func startSigner(t testing.TB, dir string, flags ...string) *signtest.Proc {
	t.Helper()
	bin, _, _ := testSignd(t)
	p := signtest.Start(t, bin, append([]string{"serve", "-dir", dir, "-listen", "127.0.0.1:0"}, flags...)...)
	t.Cleanup(p.Kill)
	return p
}

// certPool reads the CA certificates of a PEM file.
func certPool(t testing.TB, path string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("no CA certificate in %s", path)
	}
	return pool
}

// clientTLS reads a deployment's client certificate and signer CA.
func clientTLS(t testing.TB, dir string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: certPool(t, filepath.Join(dir, "signer-ca.pem")), MinVersion: tls.VersionTLS13}
}

// keyID returns the ID of the deployment's key name (ecdsap256, ed25519,
// rsa2048), from its certificate.
func keyID(t testing.TB, dir, name string) string {
	t.Helper()
	return KeyID(certOf(t, dir, name).RawSubjectPublicKeyInfo)
}

func certOf(t testing.TB, dir, name string) *x509.Certificate {
	t.Helper()
	c, err := signer.ReadCert(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dial makes an engine for the signers with our deployment's client
// certificate; t.Cleanup closes it.
func dial(t testing.TB, cfg Config, signers ...*signtest.Proc) *Engine {
	t.Helper()
	_, dir, _ := testSignd(t)
	for _, s := range signers {
		cfg.Addrs = append(cfg.Addrs, s.Addr)
	}
	if cfg.TLS == nil {
		cfg.TLS = clientTLS(t, dir)
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// serverStats asks a signer of the tests' deployment for its counters.
func serverStats(t testing.TB, s *signtest.Proc) *signpb.StatsResponse {
	t.Helper()
	_, dir, _ := testSignd(t)
	return statsIn(t, s, dir)
}

// statsIn asks the signer s, of the deployment dir, for its counters.
func statsIn(t testing.TB, s *signtest.Proc, dir string) *signpb.StatsResponse {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+s.Addr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS(t, dir))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := signpb.NewSignerClient(conn).Stats(ctx, &signpb.StatsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.tmp != "" {
		os.RemoveAll(built.tmp)
	}
	os.Exit(code)
}
