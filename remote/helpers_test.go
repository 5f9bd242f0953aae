//go:build linux

package remote

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/seed-e1024768/async/internal/signpb"
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
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.err = fmt.Errorf("skip: no go tool in PATH to build cmd/asyncsignd: %v", err)
			return
		}
		built.tmp, err = os.MkdirTemp("", "remote-test-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(built.tmp, "asyncsignd")
		out, err := exec.Command(goTool, "build", "-o", built.bin, "github.com/seed-e1024768/async/cmd/asyncsignd").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("building asyncsignd: %v\n%s", err, out)
			return
		}
		built.dir = filepath.Join(built.tmp, "deploy")
		built.evil = filepath.Join(built.tmp, "other")
		for _, d := range []string{built.dir, built.evil} {
			if out, err := exec.Command(built.bin, "init", d).CombinedOutput(); err != nil {
				built.err = fmt.Errorf("asyncsignd init: %v\n%s", err, out)
				return
			}
		}
	})
	if built.err != nil {
		if strings.HasPrefix(built.err.Error(), "skip:") {
			t.Skip(built.err)
		}
		t.Fatal(built.err)
	}
	return built.bin, built.dir, built.evil
}

// signer is a running asyncsignd process.
type signer struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// startSigner starts `asyncsignd serve` for the deployment dir on a free
// loopback port, with extra flags; t.Cleanup kills it.
func startSigner(t testing.TB, dir string, flags ...string) *signer {
	t.Helper()
	bin, _, _ := testSignd(t)
	args := append([]string{"serve", "-dir", dir, "-listen", "127.0.0.1:0"}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &signer{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(s.kill)
	lines := bufio.NewScanner(out)
	first := make(chan string, 1)
	go func() {
		defer close(s.done)
		if lines.Scan() {
			first <- lines.Text()
		}
		close(first)
		for lines.Scan() { // keep the pipe drained
		}
		_ = cmd.Wait()
	}()
	select {
	case line := <-first:
		addr, ok := strings.CutPrefix(line, "listening on ")
		if !ok {
			t.Fatalf("asyncsignd's first line is %q", line)
		}
		s.addr = addr
	case <-time.After(20 * time.Second):
		t.Fatal("asyncsignd did not say where it listens")
	}
	return s
}

// kill stops the signer with SIGKILL and waits for it.
func (s *signer) kill() {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// clientTLS reads a deployment's client certificate and CA.
func clientTLS(t testing.TB, dir string) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("no CA certificate in ca.pem")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}
}

// keyID returns the ID of the deployment's key name (ecdsap256, ed25519,
// rsa2048), from its certificate.
func keyID(t testing.TB, dir, name string) string {
	t.Helper()
	return KeyID(certOf(t, dir, name).RawSubjectPublicKeyInfo)
}

func certOf(t testing.TB, dir, name string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "certs", name+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("no PEM in certs/%s.pem", name)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// dial makes an engine for the signers with our deployment's client
// certificate; t.Cleanup closes it.
func dial(t testing.TB, cfg Config, signers ...*signer) *Engine {
	t.Helper()
	_, dir, _ := testSignd(t)
	for _, s := range signers {
		cfg.Addrs = append(cfg.Addrs, s.addr)
	}
	if cfg.TLS == nil {
		cfg.TLS = clientTLS(t, dir)
	}
	e, err := Dial(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// serverStats asks a signer for its counters.
func serverStats(t testing.TB, s *signer) *signpb.StatsResponse {
	t.Helper()
	_, dir, _ := testSignd(t)
	conn, err := grpc.NewClient("passthrough:///"+s.addr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS(t, dir))))
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

var errTest = errors.New("test")

func TestMain(m *testing.M) {
	code := m.Run()
	if built.tmp != "" {
		os.RemoveAll(built.tmp)
	}
	os.Exit(code)
}
