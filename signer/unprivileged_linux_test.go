//go:build linux

package signer

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// unprivileged runs f as if the test were not root: root reads any file,
// so for a test of a file it may not read, f runs on a thread of its own
// without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (capabilities are a
// thread's, on Linux). The thread is never unlocked, so it ends with f's
// goroutine and its lost capabilities with it. f must not start
// goroutines, which would run on other threads.
func unprivileged(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		f()
		return
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			done <- err
			return
		}
		data[0].Effective &^= 1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_DAC_READ_SEARCH
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			done <- err
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Skipf("cannot drop root's file capabilities to test an unreadable file: %v", err)
	}
}
