//go:build !linux

package signer

import "time"

// preciseSleep sleeps, here, on the runtime's timers (see sleep_linux.go).
type preciseSleep struct{}

func (*preciseSleep) prepare()              {}
func (*preciseSleep) sleep(d time.Duration) { time.Sleep(d) }
func (*preciseSleep) close()                {}
