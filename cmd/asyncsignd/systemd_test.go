package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/seed-e1024768/async/internal/signtest"
)

// unitPath is the systemd unit the project ships.
const unitPath = "../../deploy/asyncsignd.service"

// readUnit returns the unit's directives of [Service], by key, in order.
func readUnit(t *testing.T) (string, map[string][]string) {
	t.Helper()
	data, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	section := ""
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section == "[Service]" && !strings.HasPrefix(line, "#") {
			keys[k] = append(keys[k], v)
		}
	}
	return string(data), keys
}

// execStart returns the unit's ExecStart, split into its words.
func execStart(t *testing.T, keys map[string][]string) []string {
	t.Helper()
	if len(keys["ExecStart"]) != 1 {
		t.Fatalf("the unit has %d ExecStart lines, want 1", len(keys["ExecStart"]))
	}
	return strings.Fields(keys["ExecStart"][0])
}

// flagValue returns the value of -name in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == "-"+name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// TestSystemdUnit (operability, item 8 of the signer in production):
// deploy/asyncsignd.service is sandboxed (no new privileges, no
// capabilities, the system read-only, home and /tmp out of reach, the
// deployment read-only), reloads with SIGHUP, bounds memory above what
// -max-memory lets the signer hold, and systemd-analyze verify finds
// nothing to say about it (run with ExecStart pointing at the binary
// these tests built; skipped where systemd-analyze is missing).
func TestSystemdUnit(t *testing.T) {
	text, keys := readUnit(t)
	for key, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"CapabilityBoundingSet": "", "ExecReload": "/bin/kill -HUP $MAINPID", "KillSignal": "SIGTERM",
	} {
		if got := keys[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	args := execStart(t, keys)
	if len(args) < 2 || args[1] != "serve" {
		t.Fatalf("ExecStart %q does not run asyncsignd serve", args)
	}
	dir := flagValue(args, "dir")
	if got := keys["ReadOnlyPaths"]; dir == "" || len(got) != 1 || got[0] != dir {
		t.Errorf("ReadOnlyPaths=%q, want the deployment %q", got, dir)
	}
	var maxMemory int64
	if err := byteSize(&maxMemory)(flagValue(args, "max-memory")); err != nil {
		t.Fatalf("ExecStart's -max-memory: %v", err)
	}
	memMax, ok := strings.CutSuffix(strings.Join(keys["MemoryMax"], ""), "M")
	mib, err := strconv.ParseInt(memMax, 10, 64)
	if !ok || err != nil || mib<<20 < 2*maxMemory {
		t.Errorf("MemoryMax=%q: want megabytes, at least twice -max-memory (%d MiB) for connections and garbage", keys["MemoryMax"], maxMemory>>20)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze here:", err)
	}
	needBinary(t)
	unit := filepath.Join(t.TempDir(), "asyncsignd.service")
	text = strings.Replace(text, "ExecStart="+args[0], "ExecStart="+bin, 1)
	if err := os.WriteFile(unit, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdExecStart (item 8 of the signer in production): the unit's
// command line serves, as written, with only the deployment and the
// addresses replaced by the test's; it drains on SIGTERM, as the unit's
// KillSignal asks. Skipped while serve lacks one of its flags.
func TestSystemdExecStart(t *testing.T) {
	needBinary(t)
	_, keys := readUnit(t)
	args := execStart(t, keys)[1:]
	var help bytes.Buffer
	cmd := exec.Command(bin, "serve", "-h")
	cmd.Stdout = &help
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		if strings.HasPrefix(a, "-") && !regexp.MustCompile(`(?m)^  `+regexp.QuoteMeta(a)+`\b`).Match(help.Bytes()) {
			t.Skipf("serve has no %s flag in this build", a)
		}
		switch a {
		case "-dir":
			args[i+1] = deploy
		case "-listen", "-metrics":
			args[i+1] = "127.0.0.1:0"
		}
	}
	p := signtest.Start(t, bin, args...)
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, p); err != nil {
		t.Errorf("serve as the unit runs it: %v after SIGTERM; stderr %s", err, p.Stderr)
	}
}
