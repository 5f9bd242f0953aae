package async_test

import (
	"context"
	"testing"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/internal/leaktest"
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

// checkNoLeaks fails the test if, when it ends, goroutines it started are
// still running or it left fds open.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	leaktest.Check(t)
}
