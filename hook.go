//go:build !asynchooks

package async

// hook marks a point inside the package where a test built with
// -tags asynchooks (see hook_asynchooks.go) can run code of its own, to
// make a race that is otherwise a matter of nanoseconds happen every time.
// In every other build it is empty, and inlines to nothing.
func hook(hookPoint) {}
