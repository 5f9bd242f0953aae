//go:build linux

package wake_test

import (
	"fmt"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/internal/wake"
)

// An engine with no callback on the WaitCtx wakes the job through its wait
// fd, set under the engine's key on first use and closed by Free.
func Example() {
	type engine struct{ _ int }
	p := &wake.Policy{Key: new(engine), Callback: true, FD: true, Pkg: "example"}
	w := async.NewWaitCtx()
	defer w.Free()

	var k wake.Wake // one per operation
	st, err := k.Set(w, p)
	fmt.Println(st, err, k.FD != nil, len(w.AllFDs()))
	k.FD.Signal() // the engine: done, resume the job
	k.FD.Drain()  // the job, before it returns
	k.Reset()     // the operation lets go of the fd; the WaitCtx keeps it
	fmt.Println(len(w.AllFDs()))
	// Output:
	// ASYNC_STATUS_UNSUPPORTED <nil> true 1
	// 1
}
