// Package softhsm makes SoftHSM2 tokens for tests: each a fresh token in
// a temporary directory of its own, so that a test needs no token of the
// machine's and leaves none behind. SoftHSM2 is Debian's package softhsm2
// (scripts/setup-softhsm.sh installs it); where its module or its
// softhsm2-util is missing, New skips the test, saying which.
//
// It is for tests only: its functions report through testing.TB.
package softhsm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// ModuleEnv names an environment variable that, when set, is the path of
// the SoftHSM2 module to use instead of the places Module looks in.
const ModuleEnv = "SOFTHSM2_MODULE"

// moduleGlobs are where distributions install the module: Debian and
// Ubuntu (both paths), Fedora, Alpine, Homebrew and source builds.
var moduleGlobs = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/*/softhsm/libsofthsm2.so",
	"/usr/lib64/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/lib/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// ErrNoModule means no SoftHSM2 module was found.
var ErrNoModule = errors.New("softhsm: no SoftHSM2 module (libsofthsm2.so) found; install Debian's softhsm2 (scripts/setup-softhsm.sh) or set " + ModuleEnv)

// Module returns the path of the SoftHSM2 PKCS #11 module: $SOFTHSM2_MODULE,
// or the first that exists of the places distributions put it. Its
// error is ErrNoModule.
func Module() (string, error) {
	if p := os.Getenv(ModuleEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrNoModule, ModuleEnv, err)
		}
		return p, nil
	}
	for _, g := range moduleGlobs {
		if m, _ := filepath.Glob(g); len(m) > 0 {
			return m[0], nil
		}
	}
	return "", ErrNoModule
}

// A Token is a fresh SoftHSM2 token, initialised with a user PIN, and
// holding no object.
type Token struct {
	Module  string // the PKCS #11 module's path
	Label   string // the token's label
	PIN     string // the user PIN
	PINFile string // a file holding PIN and a newline, mode 0600
	Dir     string // the directory of the token's configuration and files
}

// New makes a token labelled label in a temporary directory, and points
// SOFTHSM2_CONF at its configuration for the rest of the test (with
// t.Setenv: such a test cannot be parallel; processes it starts inherit
// it). It skips the test when SoftHSM2's module or softhsm2-util is
// missing, or on Windows; it fails it when the token cannot be made.
func New(t testing.TB, label string) *Token {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("SoftHSM2 tests run on Unix only")
	}
	module, err := Module()
	if err != nil {
		t.Skip(err)
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Skipf("softhsm2-util is not installed (%v): install Debian's softhsm2 (scripts/setup-softhsm.sh)", err)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	data := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	tok := &Token{Module: module, Label: label, PIN: "1234-user", Dir: dir, PINFile: filepath.Join(dir, "pin")}
	if err := os.WriteFile(tok.PINFile, []byte(tok.PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, util, "--init-token", "--free", "--label", label,
		"--pin", tok.PIN, "--so-pin", "5678-so").CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return tok
}
