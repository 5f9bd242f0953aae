//go:build unix

package signer

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process pid may still run: only a
// process known to be gone (ESRCH) is not.
func processAlive(pid int) bool {
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
