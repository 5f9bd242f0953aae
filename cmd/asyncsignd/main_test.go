package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/seed-e1024768/async/internal/signpb"
	"github.com/seed-e1024768/async/internal/signtest"
	"github.com/seed-e1024768/async/signer"
)

// bin is the asyncsignd binary built for the tests; deploy a deployment
// it made with init; noBinary why there is none.
var bin, deploy, noBinary string

// needBinary skips a test when there is no binary to test.
func needBinary(t testing.TB) {
	t.Helper()
	if noBinary != "" {
		t.Skip(noBinary)
	}
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "asyncsignd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err = signtest.Build(dir, "asyncsignd", ".")
	if errors.Is(err, signtest.ErrNoGo) {
		noBinary = err.Error()
		return m.Run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	deploy = filepath.Join(dir, "deploy")
	if out, err := exec.Command(bin, "init", deploy).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "asyncsignd init: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// exitCode runs the binary to its end and returns its exit status and
// standard error.
func exitCode(t *testing.T, args ...string) (int, string) {
	t.Helper()
	needBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	default:
		t.Fatal(err)
		return -1, ""
	}
}

func TestInitCommand(t *testing.T) {
	needBinary(t)
	for _, name := range []string{"ca.pem", "signer-ca.pem", "client-ca.pem",
		"server.pem", "server-key.pem", "client.pem", "client-key.pem",
		"keys/ecdsap256.key", "keys/ed25519.key", "keys/rsa2048.key", "certs/ecdsap256.pem", "certs/ed25519.pem", "certs/rsa2048.pem"} {
		fi, err := os.Stat(filepath.Join(deploy, name))
		if err != nil {
			t.Error(err)
			continue
		}
		if strings.HasSuffix(name, ".key") || strings.HasSuffix(name, "-key.pem") {
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v", name, fi.Mode().Perm())
			}
		}
	}
	before, err := os.ReadFile(filepath.Join(deploy, "keys/ecdsap256.key"))
	if err != nil {
		t.Fatal(err)
	}
	if code, stderr := exitCode(t, "init", deploy); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("init over a deployment: exit %d, %q", code, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(deploy, "keys/ecdsap256.key")); !bytes.Equal(before, after) {
		t.Errorf("init over a deployment changed a key")
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"init"},
		{"init", "a", "b"},
		{"add-client"},
		{"add-client", deploy},
		{"add-client", deploy, "a b"},
		{"add-client", deploy, "../escape"},
		{"serve"},
		{"serve", "-dir", deploy},
		{"serve", "-listen", "127.0.0.1:0"},
		{"serve", "-dir", deploy, "-listen", "127.0.0.1:0", "-bogus"},
		{"serve", "-dir", deploy, "-listen", "127.0.0.1:0", "-delay", "soon"},
		{"serve", "-dir", deploy, "-listen", "127.0.0.1:0", "-delay", "-1s"},
		{"serve", "-dir", deploy, "-listen", "127.0.0.1:0", "extra"},
	} {
		if code, stderr := exitCode(t, args...); code != 2 || !strings.Contains(stderr, "usage") {
			t.Errorf("%q: exit %d, %q", args, code, stderr)
		}
	}
	if code, _ := exitCode(t, "serve", "-dir", t.TempDir(), "-listen", "127.0.0.1:0"); code != 1 {
		t.Errorf("serve of an empty directory: exit %d, want 1", code)
	}
}

// startServer starts asyncsignd serve on 127.0.0.1:0 with extra flags
// and reads its address; the test's end kills it if it still runs.
func startServer(t testing.TB, extra ...string) *signtest.Proc {
	t.Helper()
	needBinary(t)
	s := signtest.Start(t, bin, append([]string{"serve", "-dir", deploy, "-listen", "127.0.0.1:0"}, extra...)...)
	t.Cleanup(s.Kill)
	return s
}

// wait waits for the server to exit and returns its exit error.
func wait(t testing.TB, s *signtest.Proc) error {
	t.Helper()
	select {
	case <-s.Done():
		return s.Err()
	case <-time.After(20 * time.Second):
		t.Fatal("server did not exit")
		return nil
	}
}

func dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	return dialDir(t, addr, deploy)
}

// dialDir connects as the client of dir: a deployment or a client
// directory add-client wrote.
func dialDir(t testing.TB, addr, dir string) *grpc.ClientConn {
	t.Helper()
	tc, err := signer.ClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// certKey returns the key ID of a signing key's certificate: the
// front end's view of the key.
func certKey(t testing.TB, name string) (string, *x509.Certificate) {
	t.Helper()
	c, err := signer.ReadCert(deploy, name)
	if err != nil {
		t.Fatal(err)
	}
	id, err := signer.KeyID(c.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return id, c
}

// TestServe: the binary serves health and every algorithm, over its
// certificates' keys, and exits 0 on SIGTERM.
func TestServe(t *testing.T) {
	s := startServer(t)
	conn := dial(t, s.Addr)
	ctx := testContext(t)
	h, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health: %v, %v", h, err)
	}
	client := pb.NewSignerClient(conn)
	st, err := client.Sign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("message")
	digest := []byte("0123456789abcdef0123456789abcdef")
	cases := []struct {
		key     string
		alg     pb.Algorithm
		payload []byte
		sigAlg  x509.SignatureAlgorithm
	}{
		{"ecdsap256", pb.Algorithm_ECDSA_P256_SHA256, digest, x509.ECDSAWithSHA256},
		{"ed25519", pb.Algorithm_ED25519, msg, x509.PureEd25519},
		{"rsa2048", pb.Algorithm_RSA_PKCS1_SHA256, digest, x509.SHA256WithRSA},
		{"rsa2048", pb.Algorithm_RSA_PSS_SHA256, digest, x509.SHA256WithRSAPSS},
	}
	var b pb.RequestBatch
	for i, c := range cases {
		id, _ := certKey(t, c.key)
		payload := c.payload
		if c.alg != pb.Algorithm_ED25519 {
			// The signer signs a digest; the certificate's checker
			// hashes the message: sign the digest of msg.
			payload = sha256Sum(msg)
		}
		b.Requests = append(b.Requests, &pb.SignRequest{Id: uint64(i), KeyId: id, Algorithm: c.alg, Payload: payload})
	}
	if err := st.Send(&b); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(cases); {
		rb, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rb.Results {
			c := cases[r.Id]
			if r.Code != pb.Code_CODE_OK {
				t.Fatalf("%v: %v", c.alg, r)
			}
			_, cert := certKey(t, c.key)
			if err := cert.CheckSignature(c.sigAlg, msg, r.Signature); err != nil {
				t.Errorf("%v: %v", c.alg, err)
			}
			n++
		}
	}
	if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, s); err != nil {
		t.Errorf("exit after SIGTERM: %v; stderr %s", err, s.Stderr)
	}
}

// TestSIGTERMFinishesInFlight: requests in flight when SIGTERM comes are
// answered before the signer exits 0.
func TestSIGTERMFinishesInFlight(t *testing.T) {
	s := startServer(t, "-delay", "500ms")
	client := pb.NewSignerClient(dial(t, s.Addr))
	ctx := testContext(t)
	st, err := client.Sign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := certKey(t, "ecdsap256")
	const n = 10
	var b pb.RequestBatch
	for i := range n {
		b.Requests = append(b.Requests, &pb.SignRequest{Id: uint64(i), KeyId: id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: sha256Sum([]byte("x"))})
	}
	if err := st.Send(&b); err != nil {
		t.Fatal(err)
	}
	for {
		stats, err := client.Stats(ctx, &pb.StatsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if stats.Received == n {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < n; {
		rb, err := st.Recv()
		if err != nil {
			t.Fatalf("after %d answers: %v", got, err)
		}
		for _, r := range rb.Results {
			if r.Code != pb.Code_CODE_OK {
				t.Errorf("id %d: %v", r.Id, r)
			}
			got++
		}
	}
	if err := wait(t, s); err != nil {
		t.Errorf("exit after SIGTERM: %v; stderr %s", err, s.Stderr)
	}
}

func sha256Sum(b []byte) []byte {
	d := sha256.Sum256(b)
	return d[:]
}
