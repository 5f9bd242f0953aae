package async_test

import (
	"context"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
)

// Fault: a context derived in a job with a timeout, whose timer fired as
// the job ended, read the job's context from the timer's goroutine while
// the pool reset it for the next run: a data race (-race reports it).
func TestDerivedTimeoutAcrossJobEnd(t *testing.T) {
	p := mustPool(t, 1, 0)
	w := mustWaitCtx(t)
	type key struct{}
	parents := []context.Context{bg, context.WithValue(bg, key{}, 1)}
	deadline := time.Now().Add(500 * time.Millisecond)
	for i := 0; i < 20000 && time.Now().Before(deadline); i++ {
		fn := func(ctx context.Context, _ []byte) int {
			c, cancel := context.WithTimeout(ctx, time.Duration(i%50)*time.Microsecond)
			defer cancel()
			for range i % 7 * 100 {
				if c.Err() != nil {
					break
				}
			}
			return 0
		}
		var job *async.Job
		expect(t, async.Finish, 0)(p.StartJob(parents[i%2], &job, w, fn, nil))
	}
}
