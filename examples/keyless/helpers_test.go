//go:build linux

package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seed-e1024768/async/internal/signtest"
	"github.com/seed-e1024768/async/signer"
)

// binDir holds the binaries the tests build, once per run of the package.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keyless-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Every server, signer and engine a test started is stopped by
		// its cleanup; nothing of theirs may be left running.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildErr  error
)

// binaries builds cmd/asyncsignd and this command, once, and returns their
// paths.
func binaries(t testing.TB) (signer, keyless string) {
	t.Helper()
	buildOnce.Do(func() {
		for _, b := range []struct{ out, pkg string }{
			{"asyncsignd", "github.com/seed-e1024768/async/cmd/asyncsignd"},
			{"keyless", "github.com/seed-e1024768/async/examples/keyless"},
		} {
			if _, buildErr = signtest.Build(binDir, b.out, b.pkg); buildErr != nil {
				return
			}
		}
	})
	if errors.Is(buildErr, signtest.ErrNoGo) {
		t.Skip(buildErr)
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "asyncsignd"), filepath.Join(binDir, "keyless")
}

// deployment returns the directory of a deployment (asyncsignd init):
// the signer's. Every test shares one, which none writes into (a server
// gets a copy, serverCopy): its RSA-4096 key alone takes seconds to make
// under the race detector.
func deployment(t testing.TB) string {
	t.Helper()
	shared.once.Do(func() {
		shared.dir = filepath.Join(binDir, "deploy")
		shared.err = signer.Init(shared.dir)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.dir
}

// privateDeployment returns a copy of the shared deployment that the
// test may write into (a key of its own, say): private keys 0600 and keys/
// 0700, as init makes them, so that a signer serves it.
func privateDeployment(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "deploy")
	if err := signtest.CopyDeployment(dir, deployment(t)); err != nil {
		t.Fatal(err)
	}
	return dir
}

var shared struct {
	once sync.Once
	dir  string
	err  error
}

// serverCopy returns a copy of the deployment dir with only what the
// keyless server may read: the certificates and the client identity (and
// the CA certificates its clients trust, for the tests' clients). No
// keys/, and none of the signer's or the CA's private keys.
func serverCopy(t testing.TB, dir string) string {
	t.Helper()
	out := t.TempDir()
	files := []string{"signer-ca.pem", "client.pem", "client-key.pem", "ca.pem"}
	if _, err := os.Stat(filepath.Join(dir, testCAFile)); err == nil {
		files = append(files, testCAFile)
	}
	for _, name := range siteNames(t, dir) {
		files = append(files, filepath.Join("certs", name+".pem"))
	}
	if err := os.Mkdir(filepath.Join(out, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// startSignerInProcess serves dir's keys on 127.0.0.1:0 until the test
// ends, and returns the signer and its address.
func startSignerInProcess(t testing.TB, dir string, delay time.Duration) (*signer.Server, string) {
	t.Helper()
	s, err := signer.New(signer.Config{Dir: dir, Delay: delay})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(lis)
	}()
	t.Cleanup(func() {
		s.Stop(5 * time.Second)
		<-done
	})
	return s, lis.Addr().String()
}

// startServerInProcess serves cfg on 127.0.0.1:0 until the test ends, and
// returns the server, its address and its log.
func startServerInProcess(t testing.TB, cfg config) (*server, string, *signtest.Buffer) {
	t.Helper()
	logs := new(signtest.Buffer)
	cfg.errorLog = log.New(logs, "", 0)
	s, err := newServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, serveInProcess(t, s), logs
}

// serveInProcess serves s on 127.0.0.1:0 until the test ends.
func serveInProcess(t testing.TB, s *server) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.serve(lis) }()
	t.Cleanup(func() {
		if err := s.close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// clientTLS is a client's TLS config that trusts dir's CAs (see caFile),
// with no session cache: every handshake is a full one, signed.
func clientTLS(t testing.TB, dir string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(caFile(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem: no certificate")
	}
	return &tls.Config{RootCAs: roots, ServerName: "localhost"}
}

// get fetches https://addr/ over a new connection and returns the body.
func get(ctx context.Context, cfg *tls.Config, addr string) (string, error) {
	tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s: %s", resp.Status, body)
	}
	return string(body), nil
}

// checkBody fails the test unless body is the server's answer for a
// handshake signed with scheme by the remote key.
func checkBody(t testing.TB, body string, scheme tls.SignatureScheme) {
	t.Helper()
	if want := "Handshake signature: " + schemeName(scheme) + "\n"; !strings.Contains(body, want) {
		t.Errorf("body does not say %q:\n%s", want, body)
	}
	if !strings.Contains(body, "\nKey: remote,") {
		t.Errorf("body does not say the key was remote:\n%s", body)
	}
}

// goClientScheme is the scheme a crypto/tls client gets from the server
// for a key like pub at version: the first of its preferences the key can
// make (in TLS 1.2 an ECDSA key makes any ECDSA scheme, and crypto/tls
// lists P-256's first).
func goClientScheme(pub crypto.PublicKey, version uint16) tls.SignatureScheme {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return tls.Ed25519
	case *rsa.PublicKey:
		return tls.PSSWithSHA256
	case *ecdsa.PublicKey:
		if version == tls.VersionTLS13 {
			switch k.Curve {
			case elliptic.P384():
				return tls.ECDSAWithP384AndSHA384
			case elliptic.P521():
				return tls.ECDSAWithP521AndSHA512
			}
		}
		return tls.ECDSAWithP256AndSHA256
	}
	return 0
}

// sitePub returns the public key of DIR/certs/name.pem.
func sitePub(t testing.TB, dir, name string) crypto.PublicKey {
	t.Helper()
	cert, err := readChain(filepath.Join(dir, "certs", name+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	return cert.Leaf.PublicKey
}

// wantScheme is the scheme a TLS 1.3 client (crypto/tls, or curl with
// OpenSSL's defaults) gets for each key type asyncsignd init first wrote;
// goClientScheme says it for any key.
var wantScheme = map[string]tls.SignatureScheme{
	"ecdsap256": tls.ECDSAWithP256AndSHA256,
	"ecdsap384": tls.ECDSAWithP384AndSHA384,
	"ecdsap521": tls.ECDSAWithP521AndSHA512,
	"ed25519":   tls.Ed25519,
	"rsa2048":   tls.PSSWithSHA256,
	"rsa3072":   tls.PSSWithSHA256,
	"rsa4096":   tls.PSSWithSHA256,
}
