package signer

import (
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
// private key in PEM, named by its file's stem.
func DirKeys(dir string) KeyStore { return dirKeys(dir) }

type dirKeys string

// Keys reads every key file, in the order of their names.
func (d dirKeys) Keys() ([]Key, error) {
	// Glob ignores a directory it cannot read: say why, not "no keys".
	if _, err := os.ReadDir(string(d)); err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(string(d), "*.key"))
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	keys := make([]Key, 0, len(paths))
	for _, p := range paths {
		s, err := readPrivateKey(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, Key{Name: strings.TrimSuffix(filepath.Base(p), ".key"), Signer: s})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: %w", string(d), ErrNoKeys)
	}
	return keys, nil
}
