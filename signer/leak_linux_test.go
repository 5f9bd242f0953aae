//go:build linux

package signer

import (
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(fds)
}

// TestNoLeaks: a server that served streams, unary calls and cancels
// leaves no goroutine and no file descriptor behind once stopped.
func TestNoLeaks(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fds := openFDs(t)
	_, byName := loadTestKeys(t)
	t.Run("serve", func(t *testing.T) {
		sv := serve(t, Config{Delay: 50 * time.Millisecond})
		st := signStream(t, sv)
		if err := st.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, 0, 50), Cancel: []uint64{3}}); err != nil {
			t.Fatal(err)
		}
		recvN(t, st, 50)
		// A stream left open, with work in flight, for Stop to end.
		open := signStream(t, sv)
		if err := open.Send(&pb.RequestBatch{Requests: ecdsaRequests(byName, 0, 5)}); err != nil {
			t.Fatal(err)
		}
		if _, err := sv.client.SignOne(testContext(t), ecdsaRequests(byName, 0, 1)[0]); err != nil {
			t.Fatal(err)
		}
	})
	waitFor(t, func() bool { return openFDs(t) <= fds })
}
