package offload_test

import (
	"context"
	"testing"

	"github.com/seed-e1024768/async/enginetest"
	"github.com/seed-e1024768/async/offload"
)

// TestConformance runs package enginetest's contract against the engine:
// one worker, a ring of the suite's bound, and Do with a func that waits
// at the suite's gate.
func TestConformance(t *testing.T) {
	enginetest.TestEngine(t, func(t *testing.T, cfg enginetest.Config) *enginetest.Engine {
		e, err := offload.New(offload.Config{Workers: 1, Depth: cfg.Bound, Notify: cfg.Notify})
		if err != nil {
			t.Fatal(err)
		}
		gate := new(enginetest.Gate)
		return &enginetest.Engine{
			Op:    func(ctx context.Context) error { return e.Do(ctx, gate.Wait) },
			Hold:  gate.Hold,
			Close: e.Close,
		}
	})
}
