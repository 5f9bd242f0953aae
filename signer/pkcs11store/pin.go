package pkcs11store

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/seed-e1024768/async/signer"
)

// ErrEmptyPIN is returned (wrapped) by ReadPIN for a file with no PIN.
var ErrEmptyPIN = errors.New("pkcs11store: the PIN file is empty")

// ReadPIN reads a token's user PIN from the file path: its contents less
// a trailing newline. As the signer refuses key files, it refuses a PIN
// file that group or others may read or write, with an error wrapping
// signer.ErrTooOpen that names the chmod that fixes it. Its errors name
// the file and never hold the PIN: those of reading it, ErrEmptyPIN and
// that one.
func ReadPIN(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("pkcs11store: PIN file: %w", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o066 != 0 {
		return "", fmt.Errorf("%w: PIN file %s has mode %04o: group or others may read or write it, and it unlocks the token's keys; fix with: chmod 600 %s",
			signer.ErrTooOpen, path, fi.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("pkcs11store: PIN file: %w", err)
	}
	pin := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if pin == "" {
		return "", fmt.Errorf("%w: %s", ErrEmptyPIN, path)
	}
	return pin, nil
}
