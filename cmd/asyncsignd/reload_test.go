package main

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/seed-e1024768/async/internal/signpb"
	"github.com/seed-e1024768/async/signer"
)

// waitStderr waits (at most 10s) for the server's standard error to
// hold want, n times.
func waitStderr(t *testing.T, s interface{ String() string }, want string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); strings.Count(s.String(), want) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("standard error never said %q %d times:\n%s", want, n, s)
		}
	}
}

// TestClientPolicyReload: per-client authorization and reload without
// restart, on a real `asyncsignd serve`. `asyncsignd client DIR NAME`
// issues an identity; the policy lets it use one key, and the signer
// refuses it the others (CODE_PERMISSION_DENIED); SIGHUP puts a new
// policy in force for the next request on the same connection; a policy
// that does not parse leaves the old one in force, and the log names the
// file, line and column; serve refuses to start with such a policy.
func TestClientPolicyReload(t *testing.T) {
	needBinary(t)
	dir := filepath.Join(t.TempDir(), "deploy")
	if out, err := exec.Command(bin, "init", dir).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "client", dir, "alice").Output()
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	cdir := strings.TrimSpace(string(out))
	if cdir != filepath.Join(dir, "clients", "alice") {
		t.Errorf("client printed %q", cdir)
	}
	if fi, err := os.Stat(filepath.Join(cdir, "client-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("client-key.pem: %v, %v; want mode 0600", fi, err)
	}
	policy := filepath.Join(dir, signer.PolicyFile)
	write := func(p string) {
		t.Helper()
		if err := os.WriteFile(policy+".tmp", []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(policy+".tmp", policy); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"alice": ["ecdsap256"]}`)
	s := startServer(t, "-dir", dir) // the last -dir wins
	waitStderr(t, s.Stderr, "policy in force", 1)
	conn := dialDir(t, s.Addr, cdir)
	sign := func(name string) pb.Code {
		t.Helper()
		c, err := signer.ReadCert(dir, name)
		if err != nil {
			t.Fatal(err)
		}
		id, err := signer.KeyID(c.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		alg, payload := pb.Algorithm_ECDSA_P256_SHA256, sha256Sum([]byte("x"))
		if c.PublicKeyAlgorithm == x509.RSA {
			alg = pb.Algorithm_RSA_PKCS1_SHA256
		}
		r, err := pb.NewSignerClient(conn).SignOne(testContext(t), &pb.SignRequest{Id: 1, KeyId: id, Algorithm: alg, Payload: payload}, grpc.WaitForReady(true))
		if err != nil {
			t.Fatal(err)
		}
		return r.Code
	}
	if c := sign("ecdsap256"); c != pb.Code_CODE_OK {
		t.Errorf("alice's ecdsap256: %v", c)
	}
	if c := sign("rsa2048"); c != pb.Code_CODE_PERMISSION_DENIED {
		t.Errorf("alice's rsa2048 before the reload: %v, want CODE_PERMISSION_DENIED", c)
	}

	write(`{"alice": ["*"]}`)
	if err := s.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitStderr(t, s.Stderr, "SIGHUP: reloaded", 1)
	if c := sign("rsa2048"); c != pb.Code_CODE_OK {
		t.Errorf("alice's rsa2048 after the reload: %v", c)
	}

	write("{\n  \"alice\": [\"ecdsap256\"],\n}")
	if err := s.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitStderr(t, s.Stderr, "reload failed", 1)
	if want := policy + ":3:1:"; !strings.Contains(s.Stderr.String(), want) {
		t.Errorf("the failed reload's message does not say %q:\n%s", want, s.Stderr)
	}
	if c := sign("rsa2048"); c != pb.Code_CODE_OK {
		t.Errorf("alice's rsa2048 after a failed reload: %v (the old policy let her)", c)
	}
	s.Stop()

	code, stderr := exitCode(t, "serve", "-dir", dir, "-listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, policy+":3:1:") {
		t.Errorf("serve with a broken policy: exit %d, %q; want 1 and the file, line and column", code, stderr)
	}
}

// TestNoPolicyLogged: with no policy file, serve says at start that
// every authenticated client may use every key.
func TestNoPolicyLogged(t *testing.T) {
	s := startServer(t)
	waitStderr(t, s.Stderr, "no policy file: every authenticated client may use every key", 1)
}
