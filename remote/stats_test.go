package remote

import (
	"testing"

	"github.com/seed-e1024768/async/internal/signpb"
)

// TestStatsDenied: answers CODE_PERMISSION_DENIED are counted in
// Stats.Denied, and no other answer is.
func TestStatsDenied(t *testing.T) {
	var e Engine
	for _, c := range []signpb.Code{signpb.Code_CODE_OK, signpb.Code_CODE_PERMISSION_DENIED, signpb.Code_CODE_OVERLOADED, signpb.Code_CODE_PERMISSION_DENIED} {
		e.stats.noteAnswer(c)
	}
	if got := e.Stats().Denied; got != 2 {
		t.Errorf("Denied = %d, want 2", got)
	}
}
