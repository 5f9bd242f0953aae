//go:build linux

package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// procFDs counts the open file descriptors of process pid.
func procFDs(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	if err != nil {
		t.Skip("no /proc/PID/fd:", err)
	}
	return len(fds)
}

// TestSlowlorisLoad (item 4 of the signer audit: 1,030 idle TCP
// connections locked a good client out of a signer whose open-file limit
// was 1,024): the real binary, held to that limit, with 1,030 idle
// connections open to it, still gives a good client a signature at once;
// once they close, its open files are back where they were.
func TestSlowlorisLoad(t *testing.T) {
	const limit, attackers = 1024, 1030
	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &own); err != nil || own.Cur < attackers+200 {
		t.Skipf("the test needs %d open files of its own; limit %d (%v)", attackers+200, own.Cur, err)
	}
	s := startServer(t)
	pid := s.Cmd.Process.Pid
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
		t.Skip("cannot lower the signer's open-file limit:", err)
	}
	base := procFDs(t, pid)
	idle := make([]net.Conn, 0, attackers)
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range attackers {
		c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	time.Sleep(200 * time.Millisecond) // let the signer accept what it will
	held := procFDs(t, pid) - base
	client := pb.NewSignerClient(dial(t, s.Addr))
	id, _ := certKey(t, "ecdsap256")
	start := time.Now()
	r, err := client.SignOne(testContext(t), &pb.SignRequest{KeyId: id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: sha256Sum([]byte("x"))})
	took := time.Since(start)
	if err != nil || r.Code != pb.Code_CODE_OK {
		t.Fatalf("a good client behind %d idle connections: %v, %v", attackers, r, err)
	}
	t.Logf("%d idle connections, %d of them held by the signer; a good client's first signature took %v", attackers, held, took)
	if took > 2*time.Second {
		t.Errorf("a good client's first signature took %v, want it promptly", took)
	}
	for _, c := range idle {
		c.Close()
	}
	idle = idle[:0]
	deadline := time.Now().Add(10 * time.Second)
	for procFDs(t, pid) > base+1 { // the good client's connection
		if time.Now().After(deadline) {
			t.Fatalf("the signer holds %d open files, %d before the attack", procFDs(t, pid), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
