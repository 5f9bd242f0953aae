package async_test

import (
	"os/exec"
	"regexp"
	"testing"
)

// PauseJob's speed depends on the compiler inlining it into its caller (see
// the comment in PauseJob): a change that pushes it over the inliner's
// budget costs every pause a mispredicted return without failing any other
// test, so this one asks the compiler.
func TestHotPathsInline(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: it builds the package with -gcflags=-m")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipped: no go command in PATH to ask the compiler with")
	}
	out, err := exec.Command(goCmd, "build", "-gcflags=-m", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	for _, fn := range []string{"PauseJob", "switchOut", "callWith"} {
		if !regexp.MustCompile(`(?m): can inline ` + regexp.QuoteMeta(fn) + `$`).Match(out) {
			t.Errorf("the compiler no longer inlines %s", fn)
		}
	}
}
