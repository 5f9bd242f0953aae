package signer

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// ErrKeyName is returned (wrapped) by IssueSiteCert for a name that is not
// 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a
// digit: the name becomes a file's and a DNS name's.
var ErrKeyName = errors.New("signer: bad key name")

// CheckKeyName returns an error wrapping ErrKeyName if IssueSiteCert
// would refuse name: so that a key can be named before it is made.
func CheckKeyName(name string) error {
	if !clientName.MatchString(name) {
		return fmt.Errorf("%w %q (want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a digit)", ErrKeyName, name)
	}
	return nil
}

// IssueSiteCert issues a front end's certificate for a signing key that
// lives outside dir/keys (in a PKCS #11 token, say), from the site CA of
// the deployment dir, as Init does for the keys it makes: for pub, for
// localhost, 127.0.0.1 and NAME.localhost, written as dir/certs/NAME.pem
// (mode 0644; never replacing a file). Clients trust it through
// dir/ca.pem; keyless -alg NAME serves it. Its errors: ErrKeyName;
// fs.ErrExist (wrapped) if dir/certs/NAME.pem exists; those of reading the
// site CA; x509's for a key type it cannot certify; those of writing.
func IssueSiteCert(dir, name string, pub crypto.PublicKey) error {
	if err := CheckKeyName(name); err != nil {
		return err
	}
	certs := filepath.Join(dir, certsDir)
	path := filepath.Join(certs, name+".pem")
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("signer: %s: %w", path, fs.ErrExist)
	}
	caCert, caKey, err := readCA(dir, caCertFile, caKeyFile)
	if err != nil {
		return fmt.Errorf("signer: site CA: %w", err)
	}
	tmpl := leafTemplate("localhost", pub, x509.ExtKeyUsageServerAuth, time.Now())
	if host := name + ".localhost"; !slices.Contains(tmpl.DNSNames, host) {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, _, err := issue(tmpl, caCert, pub, caKey)
	if err != nil {
		return fmt.Errorf("signer: certificate for %s: %w", name, err)
	}
	if err := os.Mkdir(certs, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("signer: %w", err)
	}
	if err := writeNew(path, pemBlock("CERTIFICATE", der), 0o644); err != nil {
		return fmt.Errorf("signer: %w", err)
	}
	return nil
}
