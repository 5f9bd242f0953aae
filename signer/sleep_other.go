//go:build !linux

package signer

import "time"

// sleepPrecisely sleeps for d; here with the runtime's timers.
func sleepPrecisely(d time.Duration) { time.Sleep(d) }
