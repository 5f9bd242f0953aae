//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seed-e1024768/async/internal/signd"
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
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool in PATH to build the binaries with: %v", err)
	}
	buildOnce.Do(func() {
		for _, b := range []struct{ out, pkg string }{
			{"asyncsignd", "github.com/seed-e1024768/async/cmd/asyncsignd"},
			{"keyless", "github.com/seed-e1024768/async/examples/keyless"},
		} {
			out, err := exec.Command(goTool, "build", "-o", filepath.Join(binDir, b.out), b.pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "asyncsignd"), filepath.Join(binDir, "keyless")
}

// deployment writes a fresh deployment (asyncsignd init) and returns its
// directory: the signer's.
func deployment(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := signd.Init(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// serverCopy returns a copy of the deployment dir with only what the
// keyless server may read: the certificates and the client identity. No
// keys/, and none of the signer's or the CA's private keys.
func serverCopy(t testing.TB, dir string) string {
	t.Helper()
	out := t.TempDir()
	files := []string{"ca.pem", "client.pem", "client-key.pem"}
	for _, a := range algs {
		files = append(files, filepath.Join("certs", a+".pem"))
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
func startSignerInProcess(t testing.TB, dir string, delay time.Duration) (*signd.Server, string) {
	t.Helper()
	s, err := signd.New(signd.Config{Dir: dir, Delay: delay})
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

// logBuffer is an io.Writer for a log.Logger that tests read while the
// server writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServerInProcess serves cfg on 127.0.0.1:0 until the test ends, and
// returns the server, its address and its log.
func startServerInProcess(t testing.TB, cfg config) (*server, string, *logBuffer) {
	t.Helper()
	logs := new(logBuffer)
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

// clientTLS is a client's TLS config that trusts dir's CA, with no session
// cache: every handshake is a full one, signed.
func clientTLS(t testing.TB, dir string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
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
	if want := "Handshake signature: " + scheme.String() + "\n"; !strings.Contains(body, want) {
		t.Errorf("body does not say %q:\n%s", want, body)
	}
	if !strings.Contains(body, "\nKey: remote,") {
		t.Errorf("body does not say the key was remote:\n%s", body)
	}
}

// wantScheme is the scheme each key type's handshakes are signed with by
// a TLS 1.3 client.
var wantScheme = map[string]tls.SignatureScheme{
	"ecdsap256": tls.ECDSAWithP256AndSHA256,
	"ed25519":   tls.Ed25519,
	"rsa2048":   tls.PSSWithSHA256,
}

// proc is a process a test started: a signer or a keyless server.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	addr   string     // from its "listening on" line
	stderr *logBuffer // what it wrote on standard error
	done   chan struct{}
	err    error // Wait's, once done is closed
}

// startProc starts bin with args, waits (at most 30s) for its "listening
// on HOST:PORT" line, and stops it when the test ends.
func startProc(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	p, err := tryStartProc(t, bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// tryStartProc is startProc, with the failure to start returned.
func tryStartProc(t testing.TB, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	p := &proc{t: t, cmd: cmd, stderr: new(logBuffer), done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, out) // until the process exits
		// Wait only once the pipe is read to its end, as
		// exec.Cmd.StdoutPipe asks.
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			<-p.done
			return nil, fmt.Errorf("%s exited before listening: %v\n%s", filepath.Base(bin), p.err, p.stderr)
		}
		line = l
	case <-time.After(30 * time.Second):
		p.kill()
		return nil, fmt.Errorf("%s: no listening line in 30s\n%s", filepath.Base(bin), p.stderr)
	}
	addr, ok := strings.CutPrefix(line, "listening on ")
	if !ok {
		p.kill()
		return nil, fmt.Errorf("%s: first line %q, want \"listening on HOST:PORT\"", filepath.Base(bin), line)
	}
	p.addr = addr
	return p, nil
}

// stop ends the process with SIGTERM, or SIGKILL after 10s; a process
// that does not exit 0 on SIGTERM fails the test.
func (p *proc) stop() {
	select {
	case <-p.done:
		return // killed, or exited by itself (which the test saw)
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Errorf("%s on SIGTERM: %v\n%s", filepath.Base(p.cmd.Path), p.err, p.stderr)
		}
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s did not exit 10s after SIGTERM\n%s", filepath.Base(p.cmd.Path), p.stderr)
		p.kill()
	}
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}
