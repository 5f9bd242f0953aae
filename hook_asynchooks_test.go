//go:build asynchooks

package async

import "testing"

// Hook points, for tests in package async_test.
const HookBeforePaused = hookBeforePaused

// SetHook runs f at point h, once, or not at all if the test ends first.
// f runs on the goroutine that reaches h, inside the package's code.
func SetHook(t testing.TB, h hookPoint, f func()) {
	var once func()
	once = func() {
		if hooks[h].CompareAndSwap(&once, nil) {
			f()
		}
	}
	hooks[h].Store(&once)
	t.Cleanup(func() { hooks[h].CompareAndSwap(&once, nil) })
}
