package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// deploymentFiles are the files of a whole deployment.
var deploymentFiles = []string{"ca.pem", "signer-ca.pem", "client-ca.pem",
	"server.pem", "server-key.pem", "client.pem", "client-key.pem",
	"keys/ecdsap256.key", "keys/ed25519.key", "keys/rsa2048.key", "certs/ecdsap256.pem", "certs/ed25519.pem", "certs/rsa2048.pem"}

// TestInitKilled (item 8 of the signer audit: killed midway, init left
// 1 of 3 keys, and a rerun refused): the real binary, SIGKILLed at moments
// spread over an init's run, leaves either no deployment or a whole one;
// a rerun then makes one, and removes what the killed ones left beside.
func TestInitKilled(t *testing.T) {
	needBinary(t)
	parent := t.TempDir()
	start := time.Now()
	if out, err := exec.Command(bin, "init", filepath.Join(parent, "timed")).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	full := time.Since(start)
	const kills = 8
	var absent, whole int
	for i := range kills {
		dir := filepath.Join(parent, "killed")
		cmd := exec.Command(bin, "init", dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(full * 3 / 2 * time.Duration(i) / kills)
		cmd.Process.Kill()
		cmd.Wait()
		if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
			absent++
		} else {
			for _, name := range deploymentFiles {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Fatalf("killed after %v: a partial deployment: %v", full*3/2*time.Duration(i)/kills, err)
				}
			}
			whole++
			os.RemoveAll(dir)
			os.RemoveAll(dir + ".ca") // the CA keys of that whole one
		}
	}
	t.Logf("%d kills over an init of %v: %d left no deployment, %d a whole one", kills, full, absent, whole)
	dir := filepath.Join(parent, "killed")
	if out, err := exec.Command(bin, "init", dir).CombinedOutput(); err != nil {
		t.Fatalf("init after the kills: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".killed.init-") || strings.HasPrefix(e.Name(), ".killed.ca.init-") {
			t.Errorf("left beside the deployment: %s", e.Name())
		}
	}
}

// TestAddClientCommand: add-client writes a client directory and prints
// its path; the signer serves that client, by its own name.
func TestAddClientCommand(t *testing.T) {
	needBinary(t)
	out, err := exec.Command(bin, "add-client", deploy, "second").Output()
	if err != nil {
		t.Fatal(err)
	}
	cdir := strings.TrimSpace(string(out))
	if cdir != filepath.Join(deploy, "clients", "second") {
		t.Errorf("add-client printed %q", cdir)
	}
	if code, stderr := exitCode(t, "add-client", deploy, "second"); code != 1 || !strings.Contains(stderr, "exists") {
		t.Errorf("add-client of an existing client: exit %d, %q", code, stderr)
	}
	s := startServer(t)
	conn := dialDir(t, s.Addr, cdir)
	if _, err := pb.NewSignerClient(conn).Stats(testContext(t), &pb.StatsRequest{}); err != nil {
		t.Errorf("the added client: %v", err)
	}
}

// TestSIGHUPKeepsServing (item 11 of the signer audit: SIGHUP killed the
// signer at once): on SIGHUP the signer reloads, says so, and keeps
// serving; SIGTERM then stops it with exit status 0.
func TestSIGHUPKeepsServing(t *testing.T) {
	s := startServer(t)
	conn := dial(t, s.Addr)
	if err := s.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.Stderr.String(), "SIGHUP") {
		if time.Now().After(deadline) {
			t.Fatalf("nothing said about SIGHUP; stderr %q", s.Stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-s.Done():
		t.Fatalf("exited on SIGHUP: %v", s.Err())
	case <-time.After(100 * time.Millisecond):
	}
	h, err := healthpb.NewHealthClient(conn).Check(testContext(t), &healthpb.HealthCheckRequest{})
	if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health after SIGHUP: %v, %v", h, err)
	}
	if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, s); err != nil {
		t.Errorf("exit after SIGTERM: %v; stderr %s", err, s.Stderr)
	}
}

// TestSecondSignalEndsDrain (item 11: a second SIGTERM during a drain was
// ignored): with requests in flight that take 20s and a grace of 60s, a
// first SIGTERM starts the drain; a second one (or SIGINT) ends the
// signer at once, with exit status 1 and a message.
func TestSecondSignalEndsDrain(t *testing.T) {
	for _, second := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(second.String(), func(t *testing.T) {
			s := startServer(t, "-delay", "20s", "-grace", "60s")
			client := pb.NewSignerClient(dial(t, s.Addr))
			ctx, cancel := context.WithCancel(testContext(t))
			defer cancel()
			st, err := client.Sign(ctx)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := certKey(t, "ecdsap256")
			req := &pb.SignRequest{Id: 1, KeyId: id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: sha256Sum([]byte("x"))}
			if err := st.Send(&pb.RequestBatch{Requests: []*pb.SignRequest{req}}); err != nil {
				t.Fatal(err)
			}
			for {
				stats, err := client.Stats(ctx, &pb.StatsRequest{})
				if err != nil {
					t.Fatal(err)
				}
				if stats.Received == 1 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			select {
			case <-s.Done():
				t.Fatalf("exited before the drain ended: %v", s.Err())
			default:
			}
			start := time.Now()
			if err := s.Cmd.Process.Signal(second); err != nil {
				t.Fatal(err)
			}
			err = wait(t, s)
			var ee *exec.ExitError
			if took := time.Since(start); took > 5*time.Second || !errors.As(err, &ee) || ee.ExitCode() != 1 ||
				!strings.Contains(s.Stderr.String(), "second signal") {
				t.Errorf("after a second %v: exit %v after %v, stderr %q; want status 1 at once", second, err, took, s.Stderr)
			}
		})
	}
}
