//go:build linux

package main

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"encoding/json"

	"github.com/seed-e1024768/async/signer"
)

// -remote embedded measures each mode through a signer started in the
// process, the unary calls too, with errors and latencies in every row.
func TestRemoteEmbeddedJSON(t *testing.T) {
	status, stdout, stderr := runCmd(t, "-json", "-seconds", "0.05", "-async_jobs", "4", "-remote", "embedded", "-remote-delay", "0", "ed25519")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	var got []string
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var r row
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if r.Ops == 0 || r.Errors != 0 || r.P50us <= 0 || r.P99us < r.P50us || r.Workers != 0 {
			t.Errorf("row %+v", r)
		}
		if (r.Mode == "sync") != (r.AsyncJobs == 0) {
			t.Errorf("row %+v", r)
		}
		got = append(got, r.Algorithm+"/"+r.Mode)
	}
	want := []string{"ed25519/sync", "ed25519/fd", "ed25519/callback", "ed25519/poll", "ed25519/goroutines", "ed25519/unary"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}

// -remote embedded leaves nothing in the temporary directory, the CA keys
// that signer.Init writes beside the deployment least of all.
func TestRemoteEmbeddedCleansUp(t *testing.T) {
	if err := copyShared(filepath.Join(t.TempDir(), "deploy")); err != nil { // made now, not in tmp
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	saved := initDeployment
	t.Cleanup(func() { initDeployment = saved })
	initDeployment = func(dir string, hosts ...string) error {
		if err := saved(dir, hosts...); err != nil {
			return err
		}
		// As signer.Init does, which the shared copy skips.
		if err := os.Mkdir(signer.CADir(dir), 0o700); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(signer.CADir(dir), "ca-key.pem"), []byte("not a key"), 0o600)
	}
	status, _, stderr := runCmd(t, "-seconds", "0.01", "-async_jobs", "1", "-mode", "callback", "-remote", "embedded", "ed25519")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left behind in the temporary directory: %s", e.Name())
	}
}

// The table for a remote signer says which and has a unary column.
func TestRemoteTable(t *testing.T) {
	status, stdout, stderr := runCmd(t, "-seconds", "0.02", "-async_jobs", "2", "-mode", "callback", "-remote", "embedded", "ecdsap256", "rsa2048")
	if status != 0 {
		t.Fatalf("status %d: %s", status, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "embedded remote signer on 127.0.0.1:") ||
		!strings.Contains(lines[0], "delay 1ms") ||
		strings.Join(strings.Fields(lines[1]), " ") != "algorithm sync ops/s async callback ops/s goroutines ops/s unary ops/s" ||
		!strings.HasPrefix(strings.TrimSpace(lines[2]), "ecdsap256") || !strings.HasPrefix(strings.TrimSpace(lines[3]), "rsa2048") {
		t.Fatalf("table:\n%s", stdout)
	}
}

// A signer that refuses the client's certificate (from another
// deployment's CA), or whose certificate the client refuses, makes
// asyncspeed fail at once with a message that says whose certificate was
// not accepted, and print no table.
func TestRemoteRefused(t *testing.T) {
	ours, theirs, mixed := t.TempDir(), t.TempDir(), t.TempDir()
	// Theirs has CAs of its own; ours is the tests' shared deployment.
	if err := signer.Init(theirs); err != nil {
		t.Fatal(err)
	}
	if err := copyShared(ours); err != nil {
		t.Fatal(err)
	}
	// mixed trusts their signer CA but has our client certificate.
	if err := os.CopyFS(filepath.Join(mixed, "certs"), os.DirFS(filepath.Join(theirs, "certs"))); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(theirs, "signer-ca.pem"), filepath.Join(mixed, "signer-ca.pem"))
	for _, f := range []string{"client.pem", "client-key.pem"} {
		copyFile(t, filepath.Join(ours, f), filepath.Join(mixed, f))
	}
	srv, err := signer.New(signer.Config{Dir: theirs})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop(time.Second)
	for _, c := range []struct{ dir, says string }{
		{ours, "this client did not accept the signer's certificate"},
		{mixed, "the signer did not accept this client's certificate"},
	} {
		start := time.Now()
		status, stdout, stderr := runCmd(t, "-seconds", "0.02", "-remote", lis.Addr().String(), "-remote-dir", c.dir, "ed25519")
		if status != 1 || stdout != "" || !strings.Contains(stderr, "certificate not accepted") || !strings.Contains(stderr, c.says) {
			t.Fatalf("status %d, stdout %q, stderr %q; want 1 and %q", status, stdout, stderr, c.says)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v to report the refusal", d)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRemoteBadArguments(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-remote", "127.0.0.1:1"}, "-remote ADDR needs -remote-dir DIR"},
		{[]string{"-remote-dir", dir}, "-remote-dir needs -remote ADDR"},
		{[]string{"-remote", "embedded", "-remote-dir", dir}, "-remote embedded makes its own"},
		{[]string{"-remote", "embedded", "sha256"}, "a remote signer does not offer sha256"},
		{[]string{"-remote", "a:1,,b:2", "-remote-dir", dir}, `bad -remote "a:1,,b:2"`},
		{[]string{"-remote", "embedded", "-remote-delay", "-1s"}, "-remote-delay must not be negative"},
	} {
		status, stdout, stderr := runCmd(t, c.args...)
		if status != 2 || stdout != "" || !strings.Contains(stderr, c.want) {
			t.Errorf("asyncspeed %q: status %d, stdout %q, stderr %q; want 2 and %q", c.args, status, stdout, stderr, c.want)
		}
	}
	// A deployment dir without the client's files.
	status, _, stderr := runCmd(t, "-remote", "127.0.0.1:1", "-remote-dir", dir)
	if status != 1 || !strings.Contains(stderr, "client") {
		t.Errorf("empty -remote-dir: status %d, stderr %q", status, stderr)
	}
}

// With no arguments asyncspeed measures every local algorithm but the
// larger keys, and then ed25519 through an embedded signer with a 1ms
// delay.
func TestDefaultRunHasRemoteGroup(t *testing.T) {
	cfg, err := parse(nil, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.algorithms) != len(defaultAlgorithms()) || !slices.Equal(cfg.remote.addrs, []string{embedded}) ||
		cfg.remote.delay != time.Millisecond || len(cfg.remote.algorithms) != 1 || cfg.remote.algorithms[0].name != "ed25519" {
		t.Errorf("default config %+v", cfg)
	}
	cfg, err = parse([]string{"sha256"}, os.Stderr)
	if err != nil || cfg.remote.addrs != nil {
		t.Errorf("a named algorithm: %+v, %v", cfg, err)
	}
}

// TestRemoteClientDenied (per-client authorization): -remote-client
// NAME measures as that client, from DIR/clients/NAME; a key the policy
// does not let it use makes asyncspeed exit 1 at once with a message
// that names the key, and print no table.
func TestRemoteClientDenied(t *testing.T) {
	dir := t.TempDir()
	if err := signer.Init(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := signer.AddClient(dir, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, signer.PolicyFile), []byte(`{"alice": ["ecdsap256"]}`), 0o644); err != nil {
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
	go srv.Serve(lis)
	defer srv.Stop(time.Second)
	addr := lis.Addr().String()

	status, stdout, stderr := runCmd(t, "-json", "-seconds", "0.02", "-async_jobs", "2", "-mode", "callback",
		"-remote", addr, "-remote-dir", dir, "-remote-client", "alice", "ecdsap256")
	if status != 0 || !strings.Contains(stdout, `"algorithm":"ecdsap256"`) {
		t.Fatalf("alice's ecdsap256: status %d, stdout %q, stderr %q", status, stdout, stderr)
	}
	start := time.Now()
	status, stdout, stderr = runCmd(t, "-seconds", "0.02", "-remote", addr, "-remote-dir", dir, "-remote-client", "alice", "ecdsap256", "rsa2048")
	if status != 1 || stdout != "" || !strings.Contains(stderr, "permission denied") || !strings.Contains(stderr, "key rsa2048") {
		t.Fatalf("alice's rsa2048: status %d, stdout %q, stderr %q; want 1 and a message naming key rsa2048", status, stdout, stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to report the denial", d)
	}
	for _, args := range [][]string{{"-remote-client", "alice"}, {"-remote", addr, "-remote-dir", dir, "-remote-client", "../x"}} {
		if status, _, stderr := runCmd(t, args...); status != 2 || !strings.Contains(stderr, "-remote-client") {
			t.Errorf("%q: status %d, stderr %q; want 2", args, status, stderr)
		}
	}
	// The deployment's own client is not in the policy: denied its first key.
	status, _, stderr = runCmd(t, "-seconds", "0.02", "-remote", addr, "-remote-dir", dir, "ed25519")
	if status != 1 || !strings.Contains(stderr, "key ed25519") {
		t.Errorf("the deployment's client: status %d, stderr %q", status, stderr)
	}
}
