//go:build linux

package enginetest

import (
	"context"
	"testing"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/engine"
	"github.com/seed-e1024768/async/loop"
)

// testLoop: package loop, in the mode that pairs with the engine's Notify,
// runs many jobs of two operations each through the engine.
func (s *suite) testLoop(t *testing.T) {
	e := s.engine(t)
	mode := map[engine.Notify]loop.Mode{
		engine.NotifyFD:   loop.ModeFD,
		engine.NotifyAuto: loop.ModeCallback,
		engine.NotifyPoll: loop.ModePoll,
	}[s.m.notify]
	const tasks = 64
	fn := func(ctx context.Context, _ []byte) int {
		for range 2 {
			if err := e.Op(ctx); err != nil {
				t.Errorf("operation: %v", err)
				return 0
			}
		}
		return 1
	}
	n, ok := 0, 0
	err := loop.Run(context.Background(), loop.Config{InFlight: 2 * bound, Mode: mode},
		func() (loop.Task, bool) {
			if n == tasks {
				return loop.Task{}, false
			}
			n++
			return loop.Task{Fn: async.Func(fn)}, true
		},
		func(r loop.Result) {
			if r.Err != nil {
				t.Errorf("task: %v", r.Err)
			} else if r.Ret == 1 {
				ok++
			}
		})
	if err != nil || ok != tasks {
		t.Errorf("loop.Run: %v, %d of %d tasks done", err, ok, tasks)
	}
}
