package signtest

import (
	"fmt"
	"os"
	"testing"
)

// runDir is a temporary directory for the whole test binary.
var runDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signtest-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
