package signtest

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
)

// ErrNoGo means there is no go tool in PATH to build with; a test that
// needs the binary skips then.
var ErrNoGo = errors.New("signtest: no go tool in PATH to build with")

// Build builds the package pkg (an import path, or "." for the package
// whose test is running) into dir/name with the go tool, and returns the
// binary's path. It returns an error wrapping ErrNoGo when there is no go
// tool, and one with the go tool's output when the build fails.
func Build(dir, name, pkg string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoGo, err)
	}
	bin := filepath.Join(dir, name)
	if out, err := exec.Command(goTool, "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}
