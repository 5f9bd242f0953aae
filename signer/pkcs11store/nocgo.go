//go:build !cgo

package pkcs11store

import "github.com/seed-e1024768/async/signer"

// A Store is a token's key store. Built without cgo, there is none: Open
// returns ErrNoCgo.
type Store struct{}

// Open returns ErrNoCgo: this build has no PKCS #11.
func Open(cfg Config) (*Store, error) { return nil, ErrNoCgo }

// Keys returns ErrNoCgo.
func (s *Store) Keys() ([]signer.Key, error) { return nil, ErrNoCgo }

// Generate returns ErrNoCgo.
func (s *Store) Generate(name string, typ KeyType) (TokenKey, error) { return nil, ErrNoCgo }

// Close does nothing.
func (s *Store) Close() error { return nil }
