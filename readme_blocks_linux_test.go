//go:build linux

package async_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeWants are lines the README's runnable blocks must print, by
// their heading: proof they did what they say, not merely exited 0.
var readmeWants = map[string][]string{
	"Remote signing: where async jobs pay": {"ed25519", "Hello from the keyless example", "Handshake signature: ecdsa_secp256r1_sha256 (ECDSAWithP256AndSHA256)"},
	"Running a signer":                     {"denied, as the policy says", "asyncsignd_requests_total"},
}

// TestREADMEBlocks (first contact, item 7 of the signer in production:
// the README's remote-signing block ran curl before the front end
// listened, left asyncsignd running after killing its `go run` parent,
// and left an untracked deploy/ in the repository): each block marked
// "run" is run as a user would paste it, by bash from the repository's
// root; it must exit 0 and print what it promises, and once it is done
// nothing it started may still run and nothing may be left in the
// repository or in its temporary directory. A block whose "needs" names
// a flag its command does not define yet is skipped, saying which.
func TestREADMEBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the README's blocks build and run three programs")
	}
	for _, tool := range []string{"bash", "go", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s here: %v", tool, err)
		}
	}
	ran := 0
	for _, b := range readmeBlocks(t) {
		m := markRE.FindStringSubmatch(b.mark)
		if m == nil || !strings.HasPrefix(m[1], "run") {
			continue
		}
		ran++
		t.Run(b.heading, func(t *testing.T) {
			for need := range strings.SplitSeq(m[2], ",") {
				if cmd, flag, ok := strings.Cut(strings.TrimSpace(need), " -"); ok && !definesFlag(t, cmd, flag) {
					t.Skipf("README.md:%d needs %s -%s, which this build does not define", b.line, cmd, flag)
				}
			}
			runREADMEBlock(t, b)
		})
	}
	if ran == 0 {
		t.Error("no README block is marked run")
	}
}

// definesFlag reports whether command cmd (cmd/CMD) defines the flag
// name: whether its source says "name" where flags are defined.
func definesFlag(t *testing.T, cmd, name string) bool {
	files, err := filepath.Glob(filepath.Join("cmd", cmd, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("README names command %s: no cmd/%s/*.go (%v)", cmd, cmd, err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(`"`+name+`"`)) {
			return true
		}
	}
	return false
}

func runREADMEBlock(t *testing.T, b readmeBlock) {
	before, git := gitStatus(t)
	tmp := t.TempDir()                                                      // the block's mktemp -d goes in here
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a cold build cache
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", b.code)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	// Its own process group, so that a test that times out ends
	// everything the block started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever it left, after the checks
	if err != nil {
		t.Fatalf("README.md:%d (%s): %v\n%s", b.line, b.heading, err, out.Bytes())
	}
	for _, want := range readmeWants[b.heading] {
		if !strings.Contains(out.String(), want) {
			t.Errorf("README.md:%d (%s) did not print %q:\n%s", b.line, b.heading, want, out.Bytes())
		}
	}
	if left := running(t, tmp); len(left) != 0 {
		t.Errorf("README.md:%d (%s) left running: %q", b.line, b.heading, left)
	}
	if names, _ := os.ReadDir(tmp); len(names) != 0 {
		t.Errorf("README.md:%d (%s) left %s in its temporary directory", b.line, b.heading, names[0].Name())
	}
	if after, _ := gitStatus(t); git && after != before {
		t.Errorf("README.md:%d (%s) changed the repository: git status was\n%s\nand is\n%s", b.line, b.heading, before, after)
	}
}

// running returns the command lines of the processes whose executable
// is under dir (the binaries a block built there, deleted or not).
func running(t *testing.T, dir string) []string {
	// A process being killed may linger for a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var left []string
		exes, _ := filepath.Glob("/proc/[0-9]*/exe")
		for _, exe := range exes {
			if target, err := os.Readlink(exe); err == nil && strings.HasPrefix(target, dir+"/") {
				cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(exe), "cmdline"))
				left = append(left, string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gitStatus is the repository's git status, untracked files included,
// and false where there is no git or no repository (a copy of the
// source): there the check that nothing was written is left out.
func gitStatus(t *testing.T) (string, bool) {
	out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=all").Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) || errors.Is(err, exec.ErrNotFound) {
		t.Logf("no git status, so no check that the repository is left as it was: %v", err)
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), true
}
