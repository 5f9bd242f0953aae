//go:build linux

package remote

import (
	"context"
	"testing"
	"time"

	"github.com/seed-e1024768/async/loop"
)

func TestTmpDelay(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir, "-delay", "5ms")
	kid := keyID(t, dir, "ed25519")
	for _, m := range modes {
		e := dial(t, Config{Notify: m.notify, AppParks: true}, s)
		msg := []byte("benchmark")
		fn := func(ctx context.Context, _ []byte) int {
			if _, err := e.Sign(ctx, kid, Ed25519, msg); err != nil {
				t.Error(err)
			}
			return 0
		}
		for range 2 {
			n := 0
			N := 20000
			start := time.Now()
			loop.Run(context.Background(), loop.Config{Mode: m.mode, InFlight: 64}, func() (loop.Task, bool) {
				n++
				return loop.Task{Fn: fn}, n <= N
			}, func(loop.Result) {})
			d := time.Since(start)
			st := e.Stats()
			t.Logf("%v: %.0f ops/s, %.1f reqs/batch", m.mode, float64(N)/d.Seconds(), float64(st.Sent)/float64(st.Batches))
		}
	}
}
