package signer

import (
	"errors"
	"strings"
	"testing"
)

// TestParsePolicy: a policy is parsed strictly, and one that does not
// parse is reported with the line and column of its fault (per-client
// authorization: a policy that does not parse names where).
func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte(`{"alice": ["ecdsap256"], "bob": ["*"], "carol": ["0123abcd", "ed25519"], "dave": []}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		client, name, id string
		want             bool
	}{
		{"alice", "ecdsap256", "x", true},
		{"alice", "rsa2048", "x", false},
		{"bob", "rsa2048", "x", true},
		{"carol", "other", "0123abcd", true},
		{"carol", "ed25519", "y", true},
		{"carol", "ecdsap256", "y", false},
		{"dave", "ecdsap256", "x", false},
		{"eve", "ecdsap256", "x", false},
	} {
		if got := p.Allow(c.client, c.name, c.id); got != c.want {
			t.Errorf("Allow(%q, %q, %q) = %v, want %v", c.client, c.name, c.id, got, c.want)
		}
	}

	for _, c := range []struct {
		in         string
		line, col  int
		msgContain string
	}{
		{"", 1, 1, "end of the file"},
		{"[]", 1, 1, "want a JSON object"},
		{"{\n  \"alice\": \"ecdsap256\"\n}", 2, 12, "want a list"},
		{"{\n  \"alice\": [\"ecdsap256\",\n     3]\n}", 3, 6, "found a number"},
		{"{\n  \"alice\": [\"a\"],\n  \"alice\": []\n}", 3, 3, "named twice"},
		{"{\"alice\": [\"\"]}", 1, 12, "empty key name"},
		{"{\"alice\": [\"a\"]} {}", 1, 18, "nothing after"},
		{"{\n\"alice\": [\"a\"]\n\"bob\": []}", 3, 1, "invalid character"},
		{"{\"alice\": [\"a\",]}", 1, 16, "invalid character"},
		{"{\"alice\": null}", 1, 11, "found null"},
		{"{\"alice\": [\"a\"]", 1, 16, "end of the file"},
	} {
		_, err := ParsePolicy([]byte(c.in))
		var pe *PolicyError
		if !errors.As(err, &pe) {
			t.Errorf("ParsePolicy(%q): %v, want a *PolicyError", c.in, err)
			continue
		}
		if pe.Line != c.line || pe.Column != c.col || !strings.Contains(pe.Msg, c.msgContain) {
			t.Errorf("ParsePolicy(%q): %d:%d %q, want %d:%d and %q", c.in, pe.Line, pe.Column, pe.Msg, c.line, c.col, c.msgContain)
		}
	}
}

// TestPolicyUnmatched: entries that name no key the signer holds are
// found (for the log's warning), and are no error.
func TestPolicyUnmatched(t *testing.T) {
	keys, byName := loadTestKeys(t)
	p, err := ParsePolicy([]byte(`{"alice": ["ecdsap256", "ecdsa256", "*"], "bob": ["` + byName["rsa2048"].id + `", "gone"]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(p.unmatched(keys), "; ")
	if want := "alice: ecdsa256; bob: gone"; got != want {
		t.Errorf("unmatched: %q, want %q", got, want)
	}
}
