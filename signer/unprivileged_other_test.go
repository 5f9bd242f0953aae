//go:build !linux

package signer

import (
	"os"
	"testing"
)

// unprivileged runs f, which must find files it may not read: root reads
// every file, so as root the test is skipped.
func unprivileged(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("root reads any file: an unreadable file cannot be tested")
	}
	f()
}
