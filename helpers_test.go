package async_test

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
)

var bg = context.Background()

// mustPool returns a NewPool that the test closes, checking that Close
// finds nothing outstanding.
func mustPool(t testing.TB, maxSize, initSize int) *async.Pool {
	t.Helper()
	p, err := async.NewPool(maxSize, initSize)
	if err != nil {
		t.Fatalf("NewPool(%d, %d): %v", maxSize, initSize, err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

// mustWaitCtx returns a WaitCtx that the test frees.
func mustWaitCtx(t testing.TB) *async.WaitCtx {
	w := async.NewWaitCtx()
	t.Cleanup(w.Free)
	return w
}

// expect checks one StartJob result.
func expect(t testing.TB, wantSt async.Status, wantRet int) func(async.Status, int, error) {
	t.Helper()
	return func(st async.Status, ret int, err error) {
		t.Helper()
		if st != wantSt || ret != wantRet || (err != nil) != (st == async.Err) {
			t.Fatalf("StartJob = %v, %d, %v; want %v, %d", st, ret, err, wantSt, wantRet)
		}
	}
}

// pauser pauses n times and returns ret.
func pauser(n, ret int) async.Func {
	return func(ctx context.Context, _ []byte) int {
		for range n {
			if err := async.PauseJob(ctx); err != nil {
				return -1
			}
		}
		return ret
	}
}

// checkNoLeaks records the goroutines and fds now and, when the test ends,
// checks that their numbers came back, allowing the runtime a moment to
// retire goroutines that are exiting.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	g0, fd0 := runtime.NumGoroutine(), countFDs(t)
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for {
			g, fd := runtime.NumGoroutine(), countFDs(t)
			if g <= g0 && fd <= fd0 {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("leak: goroutines %d -> %d, fds %d -> %d\n%s", g0, g, fd0, fd, buf)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func countFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0 // no /proc: goroutines are still checked
	}
	return len(ents)
}
