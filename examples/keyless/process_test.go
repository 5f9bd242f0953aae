//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/signtest"
)

// TestBinary runs the command as a binary serving every certificate of a
// deployment (no -alg), against an asyncsignd binary, with a copy of the
// deployment that has no keys/ (nor any other private key than the
// client's), and talks to it for each site, by its name NAME.localhost,
// with crypto/tls, curl and openssl s_client; and to the default site
// (certs/ecdsap256.pem) with no server name.
func TestBinary(t *testing.T) {
	signerBin, keylessBin := binaries(t)
	dir := siteDeployment(t)
	signer := signtest.Start(t, signerBin, "serve", "-dir", dir, "-listen", "127.0.0.1:0")
	srv := signtest.Start(t, keylessBin, "-dir", serverCopy(t, dir), "-signer", signer.Addr, "-listen", "127.0.0.1:0")
	_, port, err := net.SplitHostPort(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	ca := caFile(t, dir)
	t.Run("no-sni", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cfg := clientTLS(t, dir)
		cfg.ServerName = "127.0.0.1" // an IP address: no SNI
		body, err := get(ctx, cfg, srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		checkBody(t, body, tls.ECDSAWithP256AndSHA256)
		checkSite(t, body, defaultSite)
	})
	for _, name := range siteNames(t, dir) {
		host := name + ".localhost"
		scheme := goClientScheme(sitePub(t, dir, name), tls.VersionTLS13)
		t.Run(name, func(t *testing.T) {
			t.Run("go", func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cfg := clientTLS(t, dir)
				cfg.ServerName = host
				body, err := get(ctx, cfg, srv.Addr)
				if err != nil {
					t.Fatal(err)
				}
				checkBody(t, body, scheme)
				checkSite(t, body, name)
			})
			t.Run("curl", func(t *testing.T) {
				curl := lookTool(t, "curl")
				out := runTool(t, curl, "-sS", "--max-time", "20", "--cacert", ca,
					"--resolve", host+":"+port+":127.0.0.1", "https://"+host+":"+port+"/")
				checkBody(t, out, scheme)
				checkSite(t, out, name)
			})
			t.Run("openssl", func(t *testing.T) {
				openssl := lookTool(t, "openssl")
				// OpenSSL's default signature algorithms include
				// ecdsa_secp256r1_sha256, ed25519 and rsa_pss_rsae_sha256,
				// so no -sigalgs is needed for TLS 1.3. -ign_eof keeps
				// s_client reading after its stdin ends, until the server
				// closes (HTTP/1.0): without it the response is lost.
				out := runToolStdin(t, "GET / HTTP/1.0\r\nHost: "+host+"\r\n\r\n", openssl, "s_client",
					"-connect", "127.0.0.1:"+port, "-servername", host, "-CAfile", ca, "-verify_return_error", "-ign_eof")
				checkBody(t, out, scheme)
				checkSite(t, out, name)
				if !strings.Contains(out, "Verify return code: 0 (ok)") {
					t.Errorf("s_client did not verify the chain:\n%s", out)
				}
			})
		})
	}
}

// checkSite fails the test unless body is the server's answer for a
// handshake with the certificate certs/name.pem.
func checkSite(t testing.TB, body, name string) {
	t.Helper()
	if want := "\nCertificate: certs/" + name + ".pem,"; !strings.Contains(body, want) {
		t.Errorf("body does not say %q:\n%s", want, body)
	}
}

// lookTool returns the path of a command, or skips the test if it is not
// installed.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (%v): this check of a real client is skipped", name, err)
	}
	return path
}

// runTool runs a client to its end (at most 30s) and returns its standard
// output; it fails the test if the client fails.
func runTool(t *testing.T, bin string, args ...string) string {
	t.Helper()
	return runToolStdin(t, "", bin, args...)
}

func runToolStdin(t *testing.T, stdin, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// TestSignerDownAndBack: while the signer is down, handshakes fail in
// bounded time with a TLS alert, and the server logs why; once a signer is
// back on the same address, handshakes succeed again, without restarting
// the server.
func TestSignerDownAndBack(t *testing.T) {
	signerBin, _ := binaries(t)
	dir := deployment(t)
	signer := signtest.Start(t, signerBin, "serve", "-dir", dir, "-listen", "127.0.0.1:0")
	const signTimeout = time.Second
	_, addr, logs := startServerInProcess(t, config{dir: serverCopy(t, dir), signers: []string{signer.Addr}, alg: "ecdsap256", signTimeout: signTimeout})
	cfg := clientTLS(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	body, err := get(ctx, cfg, addr)
	if err != nil {
		t.Fatalf("with the signer up: %v", err)
	}
	checkBody(t, body, tls.ECDSAWithP256AndSHA256)

	signer.Kill()
	start := time.Now()
	err = handshake(ctx, cfg, addr)
	took := time.Since(start)
	if err == nil {
		t.Fatal("handshake succeeded with the signer down")
	}
	if !strings.Contains(err.Error(), "remote error: tls: internal error") {
		t.Errorf("handshake with the signer down: %v; want the server's internal_error alert", err)
	}
	if limit := signTimeout + 2*time.Second; took > limit {
		t.Errorf("handshake with the signer down failed after %v, more than %v", took, limit)
	}
	waitLog(t, logs, "failed to sign handshake")
	waitLog(t, logs, "no signer available")
	t.Logf("with the signer down, the handshake failed after %v: %v", took, err)

	// The same address: its port may take a moment to be free again.
	var back *signtest.Proc
	for i := 0; back == nil; i++ {
		back, err = signtest.TryStart(t, signerBin, "serve", "-dir", dir, "-listen", signer.Addr)
		if err != nil && (i == 50 || !strings.Contains(err.Error(), "address already in use")) {
			t.Fatalf("restarting the signer on %s: %v", signer.Addr, err)
		}
		if err != nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	start = time.Now()
	for {
		body, err = get(ctx, cfg, addr)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no handshake succeeded in %v after the signer came back: %v\nserver log:\n%s", time.Since(start), err, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkBody(t, body, tls.ECDSAWithP256AndSHA256)
	t.Logf("handshakes succeed again %v after the signer came back", time.Since(start))
	t.Logf("server log:\n%s", logs)
}

// handshake makes one TLS handshake with addr, and closes the conn.
func handshake(ctx context.Context, cfg *tls.Config, addr string) error {
	d := tls.Dialer{Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// TestBinaryNeverOpensKeys runs the command under strace with the
// signer's own deployment, DIR/keys in it, serves a handshake, and checks
// that no file system call of the server ever named DIR/keys (nor the
// other private keys it has no use for).
func TestBinaryNeverOpensKeys(t *testing.T) {
	strace := lookTool(t, "strace")
	signerBin, keylessBin := binaries(t)
	dir := deployment(t)
	signer := signtest.Start(t, signerBin, "serve", "-dir", dir, "-listen", "127.0.0.1:0")
	trace := filepath.Join(t.TempDir(), "trace")
	if out, err := exec.Command(strace, "-o", trace, "true").CombinedOutput(); err != nil {
		t.Skipf("strace cannot trace here (%v): %s", err, out)
	}
	srv := signtest.Start(t, strace, "-f", "-qq", "-e", "trace=%file", "-o", trace,
		keylessBin, "-dir", dir, "-signer", signer.Addr, "-listen", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	body, err := get(ctx, clientTLS(t, dir), srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	checkBody(t, body, tls.ECDSAWithP256AndSHA256)

	// Stop the server itself (strace, told to stop, would leave it
	// running untraced); strace exits with it.
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", srv.Cmd.Process.Pid, srv.Cmd.Process.Pid))
	if err != nil {
		t.Skipf("cannot find the traced server: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(children)))
	if err != nil {
		t.Fatalf("strace's children: %q", children)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Done():
		if srv.Err() != nil {
			t.Errorf("the traced server on SIGTERM: %v\n%s", srv.Err(), srv.Stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the traced server did not exit 10s after SIGTERM")
	}

	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	opened := 0
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.Contains(line, dir) {
			continue
		}
		opened++
		for _, secret := range []string{"/keys", "ca-key.pem", "server-key.pem"} {
			if strings.Contains(line, secret) {
				t.Errorf("the server touched %s: %s", secret, line)
			}
		}
	}
	// The trace must have seen the files the server does read, or it
	// proves nothing.
	if opened < 4 || !strings.Contains(string(data), filepath.Join(dir, "certs", "ecdsap256.pem")) {
		t.Errorf("the trace shows %d calls on the deployment, not the certificate's; trace:\n%s", opened, data)
	}
}
