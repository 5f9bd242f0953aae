//go:build !linux

package enginetest

import (
	"testing"
	"time"
)

// haveFDs: only Linux has wait fds.
const haveFDs = false

func readable(*testing.T, []int, time.Duration) bool { return false }
