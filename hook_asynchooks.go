//go:build asynchooks

package async

import "sync/atomic"

// hooks holds the test hooks, set by tests built with -tags asynchooks.
// Atomic, because jobs of other tests may pass a hook point meanwhile.
var hooks [numHookPoints]atomic.Pointer[func()]

// hook runs the hook set for h, if any.
func hook(h hookPoint) {
	if f := hooks[h].Load(); f != nil {
		(*f)()
	}
}
