package remote

import (
	"math"
	"time"
)

// epoch is the origin of the engine's clock.
var epoch = time.Now()

// monoNow returns the time since epoch on the monotonic clock, in
// nanoseconds. The engine judges every deadline on it, so that a step of
// the wall clock neither expires requests early nor keeps them late.
func monoNow() int64 { return int64(time.Since(epoch)) }

// addSat returns a+b for b >= 0, or math.MaxInt64 if that overflows: a
// deadline past 2262, or a Timeout of math.MaxInt64, is "never", not a
// time in the past.
func addSat(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// expiry returns when, on the engine's clock, an operation started at now
// with ctx deadline d (ok: it has one) gives up. Timeout applies only when
// the ctx has no deadline, as Config.Timeout says.
func (e *Engine) expiry(now int64, d time.Time, ok bool) int64 {
	if !ok {
		return addSat(now, int64(e.cfg.Timeout))
	}
	// time.Until reads the monotonic clock when d carries a reading
	// (deadlines made by context.WithTimeout do), and saturates.
	return addSat(now, max(0, int64(time.Until(d))))
}
