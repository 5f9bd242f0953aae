//go:build linux

package remote

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-e1024768/async/signer"
)

// TestDenied (per-client authorization, the client's side): of two
// signers of one deployment, the first's policy lets client alice use
// ecdsap256 only, the second's every key. A request for rsa2048 that
// reaches the first fails at once with ErrDenied (a *SignerError of
// CODE_PERMISSION_DENIED), and is never sent to the second, which would
// have signed it: the signers together receive each request once. The
// first's PublicKey hides rsa2048 from alice (ErrUnknownKey), and a
// SignOne call it denies is ErrDenied too.
func TestDenied(t *testing.T) {
	bin, _, _ := testSignd(t)
	dirA := filepath.Join(t.TempDir(), "a")
	if out, err := exec.Command(bin, "init", dirA).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "client", dirA, "alice").CombinedOutput(); err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	// The second signer: the same deployment, another policy.
	dirB := filepath.Join(t.TempDir(), "b")
	if out, err := exec.Command("cp", "-a", dirA, dirB).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	for dir, policy := range map[string]string{dirA: `{"alice": ["ecdsap256"]}`, dirB: `{"alice": ["*"]}`} {
		if err := os.WriteFile(filepath.Join(dir, signer.PolicyFile), []byte(policy), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, b := startSigner(t, dirA), startSigner(t, dirB)
	alice := filepath.Join(dirA, "clients", "alice")
	tlsCfg, err := signer.ClientTLS(alice)
	if err != nil {
		t.Fatal(err)
	}
	e := dial(t, Config{TLS: tlsCfg, Timeout: 20 * time.Second}, a, b)
	ec, rsa := keyID(t, dirA, "ecdsap256"), keyID(t, dirA, "rsa2048")
	digest := sha256.Sum256([]byte("denied"))

	// Both signers up, so that requests go to each.
	for _, s := range e.current() {
		waitFor(t, "both signers up", s.up)
	}
	const n = 40
	denied, signed := 0, 0
	for i := range n {
		start := time.Now()
		_, err := e.Sign(context.Background(), rsa, RSAPKCS1SHA256, digest[:])
		switch {
		case err == nil:
			signed++
		case errors.Is(err, ErrDenied):
			denied++
			var se *SignerError
			if !errors.As(err, &se) || se.Code != "CODE_PERMISSION_DENIED" || se.Addr != a.Addr {
				t.Errorf("request %d: %v, want a *SignerError of CODE_PERMISSION_DENIED from %s", i, err, a.Addr)
			}
			if strings.Contains(err.Error(), rsa) {
				t.Errorf("the error names the key ID: %v", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("denied after %v, not at once", d)
			}
		default:
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if denied == 0 || signed == 0 {
		t.Fatalf("%d denied, %d signed of %d: want requests to reach each signer", denied, signed, n)
	}
	sa, sb := statsIn(t, a, dirA), statsIn(t, b, dirA)
	if sa.Received+sb.Received != n || sa.Received != uint64(denied) {
		t.Errorf("the signers received %d and %d requests, for %d sent of which %d denied: a denied request was sent again", sa.Received, sb.Received, n, denied)
	}

	// Alone with the first signer: SignOne and PublicKey.
	ea := dial(t, Config{TLS: tlsCfg}, a)
	if _, err := ea.SignOne(context.Background(), rsa, RSAPKCS1SHA256, digest[:]); !errors.Is(err, ErrDenied) {
		t.Errorf("SignOne of a denied key: %v, want ErrDenied", err)
	}
	if _, err := ea.Sign(context.Background(), ec, ECDSAP256SHA256, digest[:]); err != nil {
		t.Errorf("a key alice may use: %v", err)
	}
	if _, err := ea.PublicKey(context.Background(), rsa); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("PublicKey of a denied key: %v, want ErrUnknownKey", err)
	}
}
