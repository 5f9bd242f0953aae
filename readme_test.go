package async_test

import (
	"os"
	"regexp"
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

// A readmeBlock is a ```sh block of README.md: the heading it is under,
// the mark before it (what TestREADMEBlocks does with it), its code, and
// its first line's number.
type readmeBlock struct {
	heading, mark, code string
	line                int
}

// markRE is the mark every ```sh block of README.md carries on the line
// before it: "run", optionally with "(needs CMD -FLAG, ...)", or
// "skip: why".
var markRE = regexp.MustCompile(`^<!-- readme-test: (run(?: \(needs ([^)]*)\))?|skip: [^>]+) -->$`)

// readmeBlocks returns README.md's ```sh blocks.
func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var (
		blocks        []readmeBlock
		heading, prev string
		cur           *readmeBlock
		n             int
	)
	for line := range strings.Lines(string(data)) {
		n++
		text := strings.TrimSuffix(line, "\n")
		switch {
		case cur != nil && text == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.code += line
		case text == "```sh":
			cur = &readmeBlock{heading: heading, mark: prev, line: n + 1}
		case strings.HasPrefix(text, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(text, "#"))
		}
		if text != "" {
			prev = text
		}
	}
	return blocks
}

// TestREADMEBlocksMarked: every shell block of the README says whether
// TestREADMEBlocks runs it, and if not, why not; so that none is left
// untried by oversight.
func TestREADMEBlocksMarked(t *testing.T) {
	blocks := readmeBlocks(t)
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```sh block")
	}
	for _, b := range blocks {
		if !markRE.MatchString(b.mark) {
			t.Errorf("README.md:%d (%s): a ```sh block without a mark on the line before it (<!-- readme-test: run --> or <!-- readme-test: skip: why -->); it has %q",
				b.line, b.heading, b.mark)
		}
	}
}
