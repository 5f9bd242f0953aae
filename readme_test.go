package async_test

import (
	"os"
	"strings"
	"testing"
)

// The README's code is an excerpt of Example (example_linux_test.go),
// which compiles and runs: the two must not drift apart.
func TestREADMECode(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_linux_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```go\n")
	block, _, ok2 := strings.Cut(block, "```\n")
	if !ok || !ok2 {
		t.Fatal("README.md has no ```go code block")
	}
	_, excerpt, ok := strings.Cut(string(example), "\t// README begin\n")
	excerpt, _, ok2 = strings.Cut(excerpt, "\t// README end\n")
	if !ok || !ok2 {
		t.Fatal("example_linux_test.go has no README begin/end marks")
	}
	var lines []string
	for line := range strings.Lines(excerpt) {
		lines = append(lines, strings.TrimPrefix(line, "\t")) // the function body's indent
	}
	if got := strings.Join(lines, ""); got != block {
		t.Errorf("README.md's code is not Example's excerpt:\nREADME:\n%s\nExample:\n%s", block, got)
	}
}
