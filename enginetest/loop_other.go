//go:build !linux

package enginetest

import "testing"

func (s *suite) testLoop(t *testing.T) { t.Skip("package loop needs Linux (epoll)") }
