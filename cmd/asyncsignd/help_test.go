package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// runIn runs the binary in dir to its end: its exit status, stdout and
// stderr.
func runIn(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	needBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	default:
		t.Fatal(err)
		return -1, "", ""
	}
}

// TestHelp (first contact, item 7 of the signer in production: -h,
// --help and help said "unknown command", exit 2, and init -h wrote a
// deployment into a directory named -h): every way of asking for help,
// of asyncsignd and of each command, prints the usage on stdout, exits 0
// and writes nothing.
func TestHelp(t *testing.T) {
	cwd := t.TempDir()
	top := [][]string{{"-h"}, {"-help"}, {"--help"}, {"help"}}
	for _, args := range top {
		code, stdout, stderr := runIn(t, cwd, args...)
		if code != 0 || !strings.Contains(stdout, "usage: asyncsignd COMMAND") || stderr != "" {
			t.Errorf("asyncsignd %q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
		for _, c := range commands {
			if !c.hidden && !strings.Contains(stdout, "\n  "+c.name+" ") {
				t.Errorf("asyncsignd %q does not list %s:\n%s", args, c.name, stdout)
			}
		}
	}
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "-h"}, {c.name, "--help"}, {c.name, "-help"}, {"help", c.name}} {
			code, stdout, stderr := runIn(t, cwd, args...)
			if code != 0 || !strings.HasPrefix(stdout, "usage: asyncsignd "+c.name) || stderr != "" {
				t.Errorf("asyncsignd %q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
			}
		}
	}
	if names, _ := os.ReadDir(cwd); len(names) != 0 {
		t.Errorf("asking for help wrote %v", names[0].Name())
	}
	if code, _, stderr := runIn(t, cwd, "help", "frobnicate"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("help of an unknown command: exit %d, %q", code, stderr)
	}
}

// TestInitSaysWhatItWrote (item 7 of the signer in production: init
// printed nothing): init lists every file it wrote, one a line, the CA
// keys out of the deployment, and the command to run next; a -hosts
// name no certificate can hold is a usage error that writes nothing.
func TestInitSaysWhatItWrote(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "d")
	code, stdout, stderr := runIn(t, parent, "init", "-hosts", "signer.example.com,10.0.0.1", dir)
	if code != 0 {
		t.Fatalf("init: exit %d, %s", code, stderr)
	}
	var listed []string
	for line := range strings.Lines(stdout) {
		if p, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "wrote "); ok {
			listed = append(listed, p)
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("init listed %s: %v", p, err)
			}
		}
	}
	var files []string
	for _, d := range []string{dir, dir + ".ca"} {
		filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				files = append(files, p)
			}
			return err
		})
	}
	if strings.Join(listed, " ") != strings.Join(files, " ") {
		t.Errorf("init listed %q; it wrote %q", listed, files)
	}
	if !strings.Contains(stdout, "next: asyncsignd serve -dir "+dir+" -listen ") {
		t.Errorf("init did not say what to run next:\n%s", stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "client-ca-key.pem")); err == nil {
		t.Errorf("init put the client CA's key in the deployment")
	}
	bad := filepath.Join(parent, "bad")
	if code, _, stderr := runIn(t, parent, "init", "-hosts", "a b", bad); code != 2 || !strings.Contains(stderr, "usage") {
		t.Errorf("init -hosts 'a b': exit %d, %q", code, stderr)
	}
	if _, err := os.Lstat(bad); err == nil {
		t.Errorf("init with a bad host wrote %s", bad)
	}
}

// TestVersion (item 8 of the signer in production): version prints the
// module and the VCS revision, and exits 0.
func TestVersion(t *testing.T) {
	code, stdout, stderr := runIn(t, t.TempDir(), "version")
	if code != 0 || !regexp.MustCompile(`^asyncsignd github.com/seed-e1024768/async \S+\nrevision (unknown|[0-9a-f]{40}\b.*)\ngo \S+\n$`).MatchString(stdout) {
		t.Errorf("version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestVersionText: what the build recorded is shown, "(devel)" and
// "unknown" what it did not.
func TestVersionText(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.com/m", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-04T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := versionText(info, true), "asyncsignd example.com/m v1.2.3\nrevision abc123 2026-12-04T10:00:00Z (modified)\ngo go1.26.8\n"; got != want {
		t.Errorf("versionText = %q, want %q", got, want)
	}
	if got, want := versionText(nil, false), "asyncsignd github.com/seed-e1024768/async (devel)\nrevision unknown\ngo unknown\n"; got != want {
		t.Errorf("versionText without build info = %q, want %q", got, want)
	}
}
