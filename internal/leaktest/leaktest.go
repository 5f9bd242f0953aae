package leaktest

import (
	"testing"

	"go.uber.org/goleak"
)

// Check records the goroutines running and the fds open now and, when the
// test ends (after the cleanups registered after it), fails t if a
// goroutine started since is still running or more fds are open. Both
// get a moment to go, since goroutines that were told to stop may still
// be on their way out.
func Check(t testing.TB) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	CheckFDs(t)
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}
