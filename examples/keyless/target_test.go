//go:build linux

package main

import (
	"io"
	"slices"
	"testing"
)

// TestSignerTargets: -signer takes gRPC targets (signers found by name)
// beside plain addresses, and hands them to package remote as they are.
func TestSignerTargets(t *testing.T) {
	cfg, _, err := parseFlags([]string{"-dir", "d", "-listen", "127.0.0.1:0",
		"-signer", "dns:///signers.internal:7443,127.0.0.1:7443"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dns:///signers.internal:7443", "127.0.0.1:7443"}; !slices.Equal(cfg.signers, want) {
		t.Errorf("signers %q; want %q", cfg.signers, want)
	}
}
