//go:build cgo

package pkcs11store

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/seed-e1024768/async/signer"
)

// A Store is the signer.KeyStore of one token, logged in. Its methods
// are safe for concurrent use, but Close, which must come last: after the
// Server that uses it has stopped.
type Store struct {
	cfg       Config
	ctx       *crypto11.Context
	closeOnce sync.Once
}

// Open loads cfg.Module, finds the token labelled cfg.Token and logs in
// with cfg.PIN. Close the Store to log out and let the module go. Its
// errors say which of the three failed: ErrModule, ErrToken and ErrPIN
// (wrapped, with the module's path or the token's label and the module's
// own error code), or another error of the module's.
func Open(cfg Config) (*Store, error) {
	if cfg.Module == "" || cfg.Token == "" {
		return nil, errors.New("pkcs11store: want a module and a token label")
	}
	if _, err := os.Stat(cfg.Module); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrModule, cfg.Module, err)
	}
	ctx, err := crypto11.Configure(&crypto11.Config{Path: cfg.Module, TokenLabel: cfg.Token, Pin: cfg.PIN})
	if err != nil {
		return nil, openError(cfg, err)
	}
	return &Store{cfg: cfg, ctx: ctx}, nil
}

// openError says which step of Open failed. crypto11 has no sentinels for
// them: its messages and the module's codes tell.
func openError(cfg Config, err error) error {
	var code pkcs11.Error
	switch {
	case errors.As(err, &code) && (code == pkcs11.CKR_PIN_INCORRECT || code == pkcs11.CKR_PIN_INVALID ||
		code == pkcs11.CKR_PIN_LEN_RANGE || code == pkcs11.CKR_PIN_LOCKED || code == pkcs11.CKR_PIN_EXPIRED):
		return fmt.Errorf("%w: token %q answered %v", ErrPIN, cfg.Token, code)
	case strings.Contains(err.Error(), "could not find PKCS#11 token"):
		return fmt.Errorf("%w: no token labelled %q in module %s (list its tokens with: pkcs11-tool --module %s --list-token-slots, or softhsm2-util --show-slots for SoftHSM2)",
			ErrToken, cfg.Token, cfg.Module, cfg.Module)
	case strings.Contains(err.Error(), "failed to open module"):
		return fmt.Errorf("%w %s: not a shared library this program can load (another architecture, or a missing dependency)", ErrModule, cfg.Module)
	case strings.Contains(err.Error(), "failed to initialize module"):
		return fmt.Errorf("%w %s: %w", ErrModule, cfg.Module, err)
	}
	return fmt.Errorf("pkcs11store: token %q of module %s: %w", cfg.Token, cfg.Module, err)
}

// Keys returns the token's ECDSA key pairs on P-256, P-384 and P-521 and
// its RSA key pairs, in the order of their names: each named by its
// label, or "id-" and its CKA_ID in hex if it has none. Key pairs of other
// types (DSA, other curves) are not keys a signer serves, and are left
// out; so is a private key without its public half, which crypto11 cannot
// use as a crypto.Signer. A token without any is signer.ErrNoKeys; two
// pairs of one label, ErrLabel.
func (s *Store) Keys() ([]signer.Key, error) {
	found, err := s.ctx.FindAllKeyPairs()
	if err != nil {
		return nil, fmt.Errorf("pkcs11store: token %q: %w", s.cfg.Token, err)
	}
	var keys []signer.Key
	for _, k := range found {
		switch pub := k.Public().(type) {
		case *ecdsa.PublicKey:
			if c := pub.Curve; c != elliptic.P256() && c != elliptic.P384() && c != elliptic.P521() {
				continue
			}
		case *rsa.PublicKey:
		default:
			continue
		}
		name, err := s.name(k)
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(keys, func(o signer.Key) bool { return o.Name == name }) {
			return nil, fmt.Errorf("%w: token %q has two key pairs labelled %q", ErrLabel, s.cfg.Token, name)
		}
		keys = append(keys, signer.Key{Name: name, Signer: k})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("pkcs11store: token %q holds no ECDSA or RSA key pair: %w", s.cfg.Token, signer.ErrNoKeys)
	}
	slices.SortFunc(keys, func(a, b signer.Key) int { return strings.Compare(a.Name, b.Name) })
	return keys, nil
}

// name is what a policy calls a token's key: its label, or its ID.
func (s *Store) name(k crypto11.Signer) (string, error) {
	attrs, err := s.ctx.GetAttributes(k, []crypto11.AttributeType{crypto11.CkaLabel, crypto11.CkaId})
	if err != nil {
		return "", fmt.Errorf("pkcs11store: token %q: a key's label: %w", s.cfg.Token, err)
	}
	if a := attrs[crypto11.CkaLabel]; a != nil && len(a.Value) > 0 {
		return string(a.Value), nil
	}
	if a := attrs[crypto11.CkaId]; a != nil && len(a.Value) > 0 {
		return "id-" + hex.EncodeToString(a.Value), nil
	}
	return "", fmt.Errorf("pkcs11store: token %q: a key pair with neither label nor ID", s.cfg.Token)
}

// Generate makes a key pair of type typ in the token, labelled name, with
// a random ID: its private half sensitive and not extractable, so that
// it never leaves the token. Its errors: ErrKeyType; ErrLabel (which also
// matches fs.ErrExist) if a key pair has that label; the module's.
func (s *Store) Generate(name string, typ KeyType) (TokenKey, error) {
	if typ != ECDSAP256 && typ != RSA2048 {
		return nil, fmt.Errorf("%w: %q", ErrKeyType, typ)
	}
	if name == "" {
		return nil, errors.New("pkcs11store: want a label for the key")
	}
	// Private keys, not pairs: an orphan private key's label is taken too.
	old, err := s.ctx.FindPrivateKeys(nil, []byte(name))
	if err != nil {
		return nil, fmt.Errorf("pkcs11store: token %q: %w", s.cfg.Token, err)
	}
	if len(old) > 0 {
		return nil, fmt.Errorf("%w: token %q has a key pair labelled %q (%w)", ErrLabel, s.cfg.Token, name, fs.ErrExist)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	var k crypto11.Signer
	switch typ {
	case ECDSAP256:
		k, err = s.ctx.GenerateECDSAKeyPairWithLabel(id, []byte(name), elliptic.P256())
	case RSA2048:
		k, err = s.ctx.GenerateRSAKeyPairWithLabel(id, []byte(name), 2048)
	}
	if err != nil {
		return nil, fmt.Errorf("pkcs11store: token %q: generating %s key %q: %w", s.cfg.Token, typ, name, err)
	}
	return k, nil
}

// Close logs out of the token and unloads the module, once no signature
// is in flight; it must not be called while the Store is in use. Later
// calls do nothing.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.ctx.Close() })
	return err
}
