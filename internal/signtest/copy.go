package signtest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CopyDeployment copies the deployment src (asyncsignd init's DIR, not
// its DIR.ca) to dst, absent or an empty directory, with the modes init
// gives: private keys 0600 and keys/ 0700, so that a signer serves the
// copy. Tests share one deployment, since its RSA-4096 key takes seconds
// to make, and copy it where they change it.
func CopyDeployment(dst, src string) error {
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		return err
	}
	return filepath.WalkDir(dst, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "keys":
			return os.Chmod(path, 0o700)
		case strings.HasSuffix(path, ".key") || strings.HasSuffix(path, "-key.pem"):
			return os.Chmod(path, 0o600)
		}
		return nil
	})
}
