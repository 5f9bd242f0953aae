//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/seed-e1024768/async/internal/signtest"
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
// the shared deployment.
func copyShared(dir string) error {
	shared.once.Do(func() {
		if shared.tmp, shared.err = os.MkdirTemp("", "asyncspeed-test-"); shared.err == nil {
			shared.err = signer.Init(filepath.Join(shared.tmp, "deploy"))
		}
	})
	if shared.err != nil {
		return fmt.Errorf("the tests' shared deployment: %w", shared.err)
	}
	return signtest.CopyDeployment(dir, filepath.Join(shared.tmp, "deploy"))
}
