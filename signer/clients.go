package signer

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// ErrClientName is returned (wrapped) by AddClient for a name that is not
// 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or a
// digit.
var ErrClientName = errors.New("signer: bad client name")

var clientName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// AddClient issues a new client identity named name (its certificate's
// CommonName: the name the signer counts its bounds and fair share by,
// and a policy names it by) from the client CA of the deployment dir,
// whose key it reads from CADir(dir), and writes it, with what a client
// of the signer needs, as the directory dir/clients/NAME:
//
//	signer-ca.pem               the signer CA, as in dir
//	client.pem, client-key.pem  the new identity (the key with mode 0600)
//	certs/*.pem                 the front ends' certificates, as in dir
//
// so that ClientTLS, `asyncspeed -remote-dir` and `keyless -dir` take that
// directory as they take dir. The deployment's policy (see Policy) names
// the keys the client may use by name. It returns the directory's path. Like Init
// it is all or nothing. Its errors: ErrClientName; fs.ErrExist (wrapped)
// if the client exists; ErrNoCAKey if the client CA's key is not in
// CADir(dir) (moved offline); ErrOldDeployment; those of reading dir's
// client CA and writing the files, which name the file.
func AddClient(dir, name string) (string, error) {
	if !clientName.MatchString(name) {
		return "", fmt.Errorf("%w %q", ErrClientName, name)
	}
	caCert, caKey, err := readCA(dir, clientCACertFile, clientCAKeyFile)
	if err != nil {
		return "", fmt.Errorf("signer: add client: %w", err)
	}
	signerCA, err := os.ReadFile(filepath.Join(dir, signerCACertFile))
	if err != nil {
		return "", fmt.Errorf("signer: add client: %w", err)
	}
	clients := filepath.Join(dir, clientsDir)
	target := filepath.Join(clients, name)
	if _, err := os.Lstat(target); err == nil {
		return "", fmt.Errorf("signer: add client %s: %w", target, fs.ErrExist)
	}
	if err := os.Mkdir(clients, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("signer: add client: %w", err)
	}
	prefix := "." + name + ".add-"
	removeStale(clients, prefix)
	tmp, err := os.MkdirTemp(clients, prefix+strconv.Itoa(os.Getpid())+"-") // mode 0700
	if err != nil {
		return "", fmt.Errorf("signer: add client: %w", err)
	}
	defer os.RemoveAll(tmp) // nothing left once renamed
	w := writer{dir: tmp, now: time.Now()}
	if err := w.file(signerCACertFile, signerCA, 0o644); err != nil {
		return "", fmt.Errorf("signer: add client: %w", err)
	}
	if err := w.identity(caCert, caKey, name, x509.ExtKeyUsageClientAuth, clientCertFile, clientKeyFile); err != nil {
		return "", fmt.Errorf("signer: add client: %w", err)
	}
	if err := copyCerts(dir, w); err != nil {
		return "", fmt.Errorf("signer: add client: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		return "", fmt.Errorf("signer: add client: %w", err)
	}
	if err := os.Rename(tmp, target); err != nil {
		if _, serr := os.Lstat(target); serr == nil {
			err = fmt.Errorf("%s: %w", target, fs.ErrExist)
		}
		return "", fmt.Errorf("signer: add client: %w", err)
	}
	if err := syncDir(clients); err != nil {
		return "", fmt.Errorf("signer: add client: %w", err)
	}
	return target, nil
}

// copyCerts copies dir's certs/*.pem, the front ends' certificates.
func copyCerts(dir string, w writer) error {
	paths, err := filepath.Glob(filepath.Join(dir, certsDir, "*.pem"))
	if err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(w.dir, certsDir), 0o755); err != nil {
		return err
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := w.file(filepath.Join(certsDir, filepath.Base(p)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ErrNoCAKey is returned (wrapped) by AddClient, and whatever else issues
// certificates, when the CA's private key is in neither CADir(dir) nor
// dir: it was moved offline, or dir is a client's directory.
var ErrNoCAKey = errors.New("signer: CA private key not found")

// readCA reads the CA of a deployment's role: its certificate from dir,
// its private key from CADir(dir), where Init keeps it out of the
// directory the signer serves from. A key found in dir itself, where an
// Init before CADir put it, is taken too (serve refuses such a dir: see
// New). Everything that issues certificates reads the CAs through here.
func readCA(dir, certName, keyName string) (*x509.Certificate, crypto.Signer, error) {
	certPath := filepath.Join(dir, certName)
	data, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, oldDeployment(dir, err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%s: %w", certPath, ErrNoPEM)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	keyPath := filepath.Join(CADir(dir), keyName)
	if _, err := os.Lstat(keyPath); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Lstat(filepath.Join(dir, keyName)); err == nil {
			keyPath = filepath.Join(dir, keyName)
		} else {
			return nil, nil, fmt.Errorf("%w: %s does not exist (init keeps the CA keys in %s, beside %s: put them back there from where you keep them offline)",
				ErrNoCAKey, keyPath, CADir(dir), dir)
		}
	}
	key, err := readPrivateKey(keyPath)
	if err != nil {
		return nil, nil, err
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, nil, fmt.Errorf("signer: %s is not the key of %s", keyPath, certPath)
	}
	return cert, key, nil
}

// publicKeysEqual reports whether a and b are the same public key.
func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// oldDeployment turns the failure to read a file of a role's CA into
// ErrOldDeployment when dir has the one CA an older Init wrote instead.
func oldDeployment(dir string, err error) error {
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, serr := os.Stat(filepath.Join(dir, caCertFile)); serr != nil {
		return err
	}
	return fmt.Errorf("%s: %w (%w)", dir, ErrOldDeployment, err)
}
