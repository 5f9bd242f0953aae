//go:build linux

package main

import (
	"io"
	"slices"
	"testing"
)

// TestRemoteTargets: -remote takes gRPC targets (signers found by name)
// beside plain addresses, and hands them to package remote as they are.
func TestRemoteTargets(t *testing.T) {
	cfg, err := parse([]string{"-remote", "dns:///signers.internal:7443,127.0.0.1:7443", "-remote-dir", "d"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dns:///signers.internal:7443", "127.0.0.1:7443"}; !slices.Equal(cfg.remote.addrs, want) {
		t.Errorf("addrs %q; want %q", cfg.remote.addrs, want)
	}
}
