package signer

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A Key is a signing key a KeyStore holds.
type Key struct {
	// Name is what a policy calls the key: a key file's stem, a
	// token object's label. Unique within its store.
	Name string
	// Signer signs with the key. Its Public names the key (KeyID). It
	// is called from several workers at once: it must be safe for
	// concurrent use, as the standard library's keys are.
	Signer crypto.Signer
}

// A KeyStore is where a Server's signing keys come from: files, a
// PKCS #11 token, a KMS. The server asks it for its keys when it is
// made, and again on each reload.
type KeyStore interface {
	// Keys returns every key the store holds now. An error means the
	// store could not be read; the server keeps the keys it has.
	Keys() ([]Key, error)
}

// DirKeys returns the KeyStore of the key files dir/*.key, each a
// private key in PEM (PKCS #8, SEC1 or PKCS #1: see ErrKeyFormat), named
// by its file's stem. Its Keys errors name the file or directory at
// fault: a dir that cannot be read (permission denied, say) is reported
// as such; a dir that does not exist, or holds no key file, as ErrNoKeys
// (with the cause); a key file that cannot be read or parsed, as that
// (see ErrKeyFormat and ErrEncryptedKey).
func DirKeys(dir string) KeyStore { return dirKeys(dir) }

type dirKeys string

// Keys reads every key file, in the order of their names. It lists the
// directory with os.ReadDir, not filepath.Glob, which would take an
// unreadable directory for an empty one.
func (d dirKeys) Keys() ([]Key, error) {
	dir := string(d)
	entries, err := os.ReadDir(dir) // sorted by name
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrNoKeys, err)
	}
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	var keys []Key
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".key")
		if !ok {
			continue
		}
		s, err := readPrivateKey(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		keys = append(keys, Key{Name: name, Signer: s})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: %w (no *.key file)", dir, ErrNoKeys)
	}
	return keys, nil
}
