//go:build linux

package remote

import (
	"context"
	"testing"

	"github.com/seed-e1024768/async/enginetest"
)

// TestConformance runs package enginetest's contract against the engine,
// signing through an in-process signer whose answers wait at the suite's
// gate, with MaxInFlight at the suite's bound.
func TestConformance(t *testing.T) {
	kid, _ := fakeKey(Ed25519)
	enginetest.TestEngine(t, func(t *testing.T, cfg enginetest.Config) *enginetest.Engine {
		gate := new(enginetest.Gate)
		f := startFake(t, &fakeSigner{gate: gate})
		_, dir, _ := testSignd(t)
		e, err := New(Config{Addrs: []string{f.addr}, TLS: clientTLS(t, dir), MaxInFlight: cfg.Bound, Notify: cfg.Notify})
		if err != nil {
			t.Fatal(err)
		}
		return &enginetest.Engine{
			Op: func(ctx context.Context) error {
				_, err := e.Sign(ctx, kid, Ed25519, []byte("conformance"))
				return err
			},
			Hold:  gate.Hold,
			Close: e.Close,
		}
	})
}
