package signer

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyDeployment copies testDir, modes included, into a new directory,
// and its CADir beside it.
func copyDeployment(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "deploy")
	copyTree(t, testDir, dir)
	copyTree(t, CADir(testDir), CADir(dir))
	return dir
}

// copyTree copies the tree from, modes included, to to, leaving out the
// clients/ other tests added.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if rel == clientsDir && d.IsDir() {
			return filepath.SkipDir // what other tests added
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		to := filepath.Join(to, rel)
		if d.IsDir() {
			if err := os.Mkdir(to, fi.Mode().Perm()); err != nil {
				return err
			}
			return os.Chmod(to, fi.Mode().Perm())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(to, data, fi.Mode().Perm()); err != nil {
			return err
		}
		return os.Chmod(to, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestInitKilledMidway (item 8 of the signer audit: init was not atomic;
// killed midway it left 1 of 3 keys, and a rerun refused): at every
// moment Init could be killed, after each file it writes, the deployment
// directory does not exist; then it exists whole. A half-built directory
// a killed Init left beside it is removed by the next Init.
func TestInitKilledMidway(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "deploy")
	stale := filepath.Join(parent, ".deploy.init-2147483646-123")
	if err := os.MkdirAll(filepath.Join(stale, keysDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, keysDir, "ecdsap256.key"), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var steps []string
	initStep = func(name string) {
		steps = append(steps, name)
		if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after writing %s, %s exists (%v): a kill now would leave part of a deployment", name, dir, err)
		}
	}
	defer func() { initStep = nil }()
	if err := Init(dir); err != nil {
		t.Fatal(err)
	}
	if want := len(deploymentFiles()) + len(caKeyFiles); len(steps) != want {
		t.Errorf("%d steps, want %d", len(steps), want)
	}
	for _, name := range deploymentFiles() {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 2 { // dir and CADir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("beside the deployment: %q, want nothing else (the killed Init's directory removed)", names)
	}
	if err := Init(dir); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Init over a deployment: %v, want fs.ErrExist", err)
	}
}

// TestInitTarget (item 8): Init takes an empty directory (its mode
// replaced), and refuses one that holds anything, such as a world-
// writable keys/ someone made, which it does not reuse.
func TestInitTarget(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.Mkdir(empty, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(empty, 0o777)
	if err := Init(empty); err != nil {
		t.Fatalf("Init of an empty directory: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(empty, keysDir)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("keys/: %v, %v; want mode 0700", fi, err)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("the deployment: %v, %v; want mode 0755", fi, err)
	}

	dir := t.TempDir()
	keys := filepath.Join(dir, keysDir)
	if err := os.Mkdir(keys, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(keys, 0o777)
	err := Init(dir)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Init over a directory with keys/: %v, want fs.ErrExist saying it is not empty", err)
	}
	if names, _ := readDirNames(keys); len(names) != 0 {
		t.Errorf("Init wrote into the existing keys/: %q", names)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if err := Init(file); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Init over a file: %v, want fs.ErrExist", err)
	}
}

// TestServeRefusesOpenKeys (item 8: serve loaded key files readable by
// anyone): New refuses a deployment whose private keys, or keys/, group
// or others may read or write, and says the path and the chmod that fixes
// it; once fixed, it serves.
func TestServeRefusesOpenKeys(t *testing.T) {
	for _, c := range []struct {
		name       string
		mode, good fs.FileMode
		fix        string
	}{
		{"keys/rsa2048.key", 0o644, 0o600, "chmod 600"},
		{"keys/ed25519.key", 0o620, 0o600, "chmod 600"},
		{keysDir, 0o755, 0o700, "chmod 700"},
		{keysDir, 0o733, 0o700, "chmod 700"},
		{serverKeyFile, 0o640, 0o600, "chmod 600"},
		{".", 0o777, 0o755, "chmod go-w"},
	} {
		dir := copyDeployment(t)
		path := filepath.Join(dir, c.name)
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		_, err := New(Config{Dir: dir})
		var pe *PermissionError
		if !errors.As(err, &pe) || !errors.Is(err, ErrTooOpen) || pe.Path != path ||
			!strings.Contains(err.Error(), c.fix+" "+path) {
			t.Errorf("%s mode %04o: %v; want a PermissionError saying %q", c.name, c.mode, err, c.fix+" "+path)
			continue
		}
		os.Chmod(path, c.good)
		s, err := New(Config{Dir: dir})
		if err != nil {
			t.Errorf("%s fixed: %v", c.name, err)
			continue
		}
		s.Stop(0)
	}
}
