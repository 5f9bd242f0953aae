//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/seed-e1024768/async/internal/signpb"
	"github.com/seed-e1024768/async/internal/signtest"
	"github.com/seed-e1024768/async/signer"
)

// The bounds the memory tests serve with.
const (
	testMaxMemory    = 32 << 20
	testClientMemory = 16 << 20
)

// TestMemoryUnreadAnswers is the first load test of item 2 of the signer
// audit: a client that never reads its answers sends 60 KiB Ed25519
// messages on every stream it may open, for a few seconds. The signer's
// RSS stays under its bound in bytes, plus what its connection may cost
// (signer.ConnectionBytes) and a fixed baseline, and another client keeps
// being served meanwhile.
//
// With ASYNCSIGND_MEMTEST_BIN set to another build of asyncsignd (one
// that predates the bounds), the attack runs against it, without the
// bounds' flags, and the test reports the RSS it reached: the figure
// before the fix.
func TestMemoryUnreadAnswers(t *testing.T) {
	id, _ := certKey(t, "ed25519")
	memoryAttack(t, 1, perStream(func(ctx context.Context, cc *grpc.ClientConn) {
		st, err := pb.NewSignerClient(cc).Sign(ctx)
		if err != nil {
			return
		}
		payload := make([]byte, 60<<10)
		var b pb.RequestBatch
		for n := uint64(0); ctx.Err() == nil; n += 16 {
			b.Requests = b.Requests[:0]
			for i := range uint64(16) {
				b.Requests = append(b.Requests, &pb.SignRequest{Id: n + i, KeyId: id, Algorithm: pb.Algorithm_ED25519, Payload: payload})
			}
			if st.Send(&b) != nil {
				return
			}
		}
	}))
}

// TestMemoryLargeKeyIDs is the second load test of item 2 of the signer
// audit: a client sends requests with key IDs of nearly the largest
// message the signer takes and empty payloads, and reads its answers.
func TestMemoryLargeKeyIDs(t *testing.T) {
	keyID := strings.Repeat("k", signer.MaxRecvMsgSize-1024)
	memoryAttack(t, 1, perStream(func(ctx context.Context, cc *grpc.ClientConn) {
		st, err := pb.NewSignerClient(cc).Sign(ctx)
		if err != nil {
			return
		}
		go func() {
			for {
				if _, err := st.Recv(); err != nil {
					return
				}
			}
		}()
		b := &pb.RequestBatch{Requests: []*pb.SignRequest{{KeyId: keyID, Algorithm: pb.Algorithm_ED25519}}}
		for n := uint64(0); ctx.Err() == nil; n++ {
			b.Requests[0].Id = n
			if st.Send(b) != nil {
				return
			}
		}
	}))
}

// TestMemorySlowMessages is the load test of the bytes being read, sent
// slowly: a client opens attackConns connections and on each of their
// streams sends all of a message of the largest size the signer takes
// but its last byte, and holds it. Each stream's receiver would hold
// what came of its message, outside the bounds in bytes; each now pays
// for it before it reads, and the others wait, their client held back
// by flow control. The signer's RSS stays under its bound, plus what
// the connections cost outside it and a fixed baseline, and another
// client keeps being served.
func TestMemorySlowMessages(t *testing.T) {
	memoryAttack(t, attackConns, slowMessages)
}

// attackConns is how many connections TestMemorySlowMessages's client
// opens: the signer's bound per client, as the test sets it.
const attackConns = 8

// memoryAttack runs a signer, and attack on each of the streams conns
// connections may have, for a few seconds, while a client of another
// identity signs an ECDSA digest every 20 ms; it samples the signer's
// RSS and checks it (against the bound, what conns connections may cost
// on top, signer.ConnectionBytes each, and a fixed allowance), and that
// every one of the other client's requests was signed.
func memoryAttack(t *testing.T, conns int, attack func(ctx context.Context, t *testing.T, addr string)) {
	bin := bin
	extra := []string{"-max-memory", strconv.Itoa(testMaxMemory), "-client-memory", strconv.Itoa(testClientMemory), "-max-conns-per-client", strconv.Itoa(attackConns)}
	before := os.Getenv("ASYNCSIGND_MEMTEST_BIN")
	if before != "" {
		bin, extra = before, nil
	}
	needBinary(t)
	s := signtest.Start(t, bin, append([]string{"serve", "-dir", deploy, "-listen", "127.0.0.1:0"}, extra...)...)
	t.Cleanup(s.Kill)
	good := pb.NewSignerClient(dialAs(t, s.Addr, "bystander"))
	ecID, _ := certKey(t, "ecdsap256")
	ctx := testContext(t)
	// Warm up, then take the baseline.
	if r, err := good.SignOne(ctx, &pb.SignRequest{KeyId: ecID, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: sha256Sum(nil)}); err != nil || r.Code != pb.Code_CODE_OK {
		t.Fatalf("SignOne: %v, %v", r, err)
	}
	base := rss(t, s.Cmd.Process.Pid)

	const span = 6 * time.Second
	actx, stop := context.WithTimeout(ctx, span)
	defer stop()
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() { attack(actx, t, s.Addr) })
	}
	var peak atomic.Int64
	wg.Go(func() {
		for actx.Err() == nil {
			peak.Store(max(peak.Load(), rss(t, s.Cmd.Process.Pid)))
			time.Sleep(50 * time.Millisecond)
		}
	})
	signed, slowest := 0, time.Duration(0)
	for actx.Err() == nil {
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, err := good.SignOne(cctx, &pb.SignRequest{KeyId: ecID, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: sha256Sum(nil)})
		cancel()
		if err != nil || r.Code != pb.Code_CODE_OK {
			t.Errorf("the other client's request during the attack: %v, %v", r, err)
			break
		}
		signed++
		slowest = max(slowest, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	wg.Wait()
	grew := peak.Load() - base
	t.Logf("RSS %d MiB before the attack, at most %d MiB during it (+%d MiB); the other client's %d requests signed, the slowest in %v",
		base>>20, peak.Load()>>20, grew>>20, signed, slowest)
	if before != "" {
		return
	}
	// The bound, what reading takes, and room for the runtime's garbage
	// collector, which lets the heap grow past what is live.
	if bound := int64(testMaxMemory + conns*signer.ConnectionBytes + 96<<20); grew > bound {
		t.Errorf("the signer's RSS grew by %d MiB under the attack; want at most %d MiB", grew>>20, bound>>20)
	}
}

// perStream makes an attack on one connection of attack on each of the
// streams it may have.
func perStream(attack func(context.Context, *grpc.ClientConn)) func(context.Context, *testing.T, string) {
	return func(ctx context.Context, t *testing.T, addr string) {
		cc := dial(t, addr)
		var wg sync.WaitGroup
		for range signer.MaxStreams {
			wg.Go(func() { attack(ctx, cc) })
		}
		wg.Wait()
	}
}

// rss returns the resident set size of process pid, in bytes.
func rss(t testing.TB, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skip("no /proc:", err)
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS: %q", v)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// dialAs connects to addr as a client of its own identity, named cn,
// which the deployment's client CA issues (add-client) the first time it
// is asked for.
func dialAs(t testing.TB, addr, cn string) *grpc.ClientConn {
	t.Helper()
	dir, err := signer.AddClient(deploy, cn)
	if errors.Is(err, fs.ErrExist) {
		dir, err = filepath.Join(deploy, "clients", cn), nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return dialDir(t, addr, dir)
}
