package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/seed-e1024768/async/signer"
	"github.com/seed-e1024768/async/signer/pkcs11store"
)

// pkcs11Flags name a PKCS #11 token: serve's and pkcs11-key's.
type pkcs11Flags struct{ module, token, pinFile string }

func addPKCS11Flags(fs *flag.FlagSet) *pkcs11Flags {
	f := new(pkcs11Flags)
	fs.StringVar(&f.module, "pkcs11", "", "PKCS #11 `module` (shared library) of the token whose keys to use instead of DIR/keys")
	fs.StringVar(&f.token, "pkcs11-token", "", "`label` of the PKCS #11 token")
	fs.StringVar(&f.pinFile, "pkcs11-pin-file", "", "`file` holding the token's user PIN (mode 0600; a trailing newline is ignored)")
	return f
}

// check says whether a token is named, and complains, as bad arguments,
// when only some of the three flags are given.
func (f *pkcs11Flags) check(cmd string, stderr io.Writer) (bool, error) {
	n := 0
	for _, v := range []string{f.module, f.token, f.pinFile} {
		if v != "" {
			n++
		}
	}
	if n != 0 && n != 3 {
		fmt.Fprintf(stderr, "%s: -pkcs11, -pkcs11-token and -pkcs11-pin-file go together\n", cmd)
		return false, errUsage
	}
	return n == 3, nil
}

// open reads the PIN file and logs in to the token. The PIN goes to the
// module only: no message holds it.
func (f *pkcs11Flags) open() (*pkcs11store.Store, error) {
	pin, err := pkcs11store.ReadPIN(f.pinFile)
	if err != nil {
		return nil, err
	}
	return pkcs11store.Open(pkcs11store.Config{Module: f.module, Token: f.token, PIN: pin})
}

// keyStore is serve's key store: the token's, if the flags name one (with
// a func that closes it, once the server is stopped), or nil for
// DIR/keys. A token that holds no key is refused now, saying how to make
// one.
func (f *pkcs11Flags) keyStore(stderr io.Writer) (signer.KeyStore, func(), error) {
	named, err := f.check("asyncsignd serve", stderr)
	if err != nil || !named {
		return nil, func() {}, err
	}
	st, err := f.open()
	if err != nil {
		return nil, nil, err
	}
	if _, err := st.Keys(); err != nil {
		st.Close()
		if errors.Is(err, signer.ErrNoKeys) {
			err = fmt.Errorf("%w; make one with: asyncsignd pkcs11-key -pkcs11 %s -pkcs11-token %s -pkcs11-pin-file %s -name NAME DIR",
				err, f.module, f.token, f.pinFile)
		}
		return nil, nil, err
	}
	return st, func() { st.Close() }, nil
}

// pkcs11Key is asyncsignd pkcs11-key: a key made in the token, and its
// front end's certificate issued by the site CA. All or nothing: if the
// certificate cannot be written, the key is deleted from the token.
func pkcs11Key(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	p11 := addPKCS11Flags(fs)
	typ := fs.String("type", string(pkcs11store.ECDSAP256), "key `type`: ecdsap256 or rsa2048")
	name := fs.String("name", "", "the key's `name`: its label in the token, and DIR/certs/NAME.pem")
	if err := parse(fs, args); err != nil {
		return err
	}
	named, err := p11.check("asyncsignd pkcs11-key", stderr)
	switch {
	case err != nil:
		return err
	case !named:
		fmt.Fprintln(stderr, "asyncsignd pkcs11-key: -pkcs11, -pkcs11-token and -pkcs11-pin-file are required")
		return errUsage
	case fs.NArg() != 1 || fs.Arg(0) == "":
		fmt.Fprintln(stderr, "asyncsignd pkcs11-key: want one deployment directory")
		return errUsage
	case *typ != string(pkcs11store.ECDSAP256) && *typ != string(pkcs11store.RSA2048):
		fmt.Fprintf(stderr, "asyncsignd pkcs11-key: -type %q: want ecdsap256 or rsa2048\n", *typ)
		return errUsage
	}
	if err := signer.CheckKeyName(*name); err != nil {
		fmt.Fprintf(stderr, "asyncsignd pkcs11-key: -name: %v\n", err)
		return errUsage
	}
	dir := fs.Arg(0)
	// Refuse before the token is touched what would refuse the
	// certificate after.
	cert := filepath.Join(dir, "certs", *name+".pem")
	if _, err := os.Lstat(cert); err == nil {
		return fmt.Errorf("%s exists: remove it, or choose another -name", cert)
	}
	st, err := p11.open()
	if err != nil {
		return err
	}
	defer st.Close()
	k, err := st.Generate(*name, pkcs11store.KeyType(*typ))
	if err != nil {
		return err
	}
	if err := signer.IssueSiteCert(dir, *name, k.Public()); err != nil {
		if derr := k.Delete(); derr != nil {
			return fmt.Errorf("%w; and deleting the new key %q from the token failed too: %v", err, *name, derr)
		}
		return fmt.Errorf("%w (the new key %q was deleted from the token)", err, *name)
	}
	id, err := signer.KeyID(k.Public())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "made %s key %q in token %q, key ID %s\nwrote %s, its certificate for localhost, 127.0.0.1 and %s.localhost\n",
		*typ, *name, p11.token, id, cert, *name)
	return nil
}
