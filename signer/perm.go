package signer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// ErrTooOpen is returned (wrapped, in a *PermissionError) by New when a
// private key of the deployment, or the directory of the signing keys,
// may be read or written by users other than its owner.
var ErrTooOpen = errors.New("signer: permissions too open")

// A PermissionError says which file or directory is too open, and how to
// close it.
type PermissionError struct {
	Path string      // the file or directory
	Mode fs.FileMode // its mode, which lets group or others in
	Fix  string      // the command that fixes it, e.g. "chmod 600 PATH"
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("signer: %s: permissions %04o are too open: group or others may read or write it, and it holds private keys; fix with: %s",
		e.Path, e.Mode.Perm(), e.Fix)
}

func (e *PermissionError) Unwrap() error { return ErrTooOpen }

// checkPrivate refuses, as ssh does, a deployment whose private keys
// others may read or replace: keys/ and keys/*.key, and every *-key.pem
// of dir (the signer's identity, the CAs' and the client's keys: whoever
// reads the client CA's key makes clients). dir itself must not be
// writable by others, who could swap keys/ for their own. It refuses a
// CA's private key in dir too (checkNoCAKeys).
func checkPrivate(dir string) error {
	if err := checkNoCAKeys(dir); err != nil {
		return err
	}
	if runtime.GOOS == "windows" {
		return nil // modes say nothing there
	}
	if err := checkMode(dir, 0o022, "chmod go-w "+dir); err != nil {
		return err
	}
	keys := filepath.Join(dir, keysDir)
	if err := checkMode(keys, 0o066, "chmod 700 "+keys); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(keys, "*.key"))
	if err != nil {
		return err
	}
	more, err := filepath.Glob(filepath.Join(dir, "*-key.pem"))
	if err != nil {
		return err
	}
	for _, f := range append(files, more...) {
		if err := checkMode(f, 0o066, "chmod 600 "+f); err != nil {
			return err
		}
	}
	return nil
}

// checkMode refuses path if any bit of open is set in its mode (a
// directory with the sticky bit excepted for others' writes, as /tmp).
// A path that does not exist is left to whoever reads it to report.
func checkMode(path string, open fs.FileMode, fix string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	bad := fi.Mode().Perm() & open
	if fi.IsDir() && fi.Mode()&fs.ModeSticky != 0 {
		bad &^= 0o002
	}
	if bad != 0 {
		return &PermissionError{Path: path, Mode: fi.Mode(), Fix: fix}
	}
	return nil
}
