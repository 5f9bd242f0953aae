//go:build linux

package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/seed-e1024768/async/signer"
)

// shared is one deployment, made once per test binary, that every
// embedded signer of the tests copies.
var shared struct {
	once sync.Once
	tmp  string
	err  error
}

func TestMain(m *testing.M) {
	initDeployment = func(dir string, _ ...string) error { return copyShared(dir) }
	code := m.Run()
	if shared.tmp != "" {
		os.RemoveAll(shared.tmp)
	}
	os.Exit(code)
}

// copyShared writes into dir (absent, or an empty directory) a copy of
// the shared deployment, private keys 0600 and keys/ 0700 as Init makes
// them.
func copyShared(dir string) error {
	shared.once.Do(func() {
		if shared.tmp, shared.err = os.MkdirTemp("", "asyncspeed-test-"); shared.err == nil {
			shared.err = signer.Init(filepath.Join(shared.tmp, "deploy"))
		}
	})
	if shared.err != nil {
		return fmt.Errorf("the tests' shared deployment: %w", shared.err)
	}
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(shared.tmp, "deploy"))); err != nil {
		return err
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "keys":
			return os.Chmod(path, 0o700)
		case strings.HasSuffix(path, ".key") || strings.HasSuffix(path, "-key.pem"):
			return os.Chmod(path, 0o600)
		}
		return nil
	})
}
