package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The files of a deployment, relative to its directory. Each role has a
// CA of its own, so that a certificate is good in its own role only: a
// front end's certificate (certs/, issued by the site CA) or a client's
// (issued by the client CA) served by a fake signer is refused by a
// client, which trusts only the signer CA for signers; and a signer's or a
// front end's certificate is refused as a client's by the signer, which
// trusts only the client CA for clients.
const (
	caCertFile       = "ca.pem" // the site CA: what browsers trust for the front ends
	caKeyFile        = "ca-key.pem"
	signerCACertFile = "signer-ca.pem"
	signerCAKeyFile  = "signer-ca-key.pem"
	clientCACertFile = "client-ca.pem"
	clientCAKeyFile  = "client-ca-key.pem"
	serverCertFile   = "server.pem"
	serverKeyFile    = "server-key.pem"
	clientCertFile   = "client.pem"
	clientKeyFile    = "client-key.pem"
	keysDir          = "keys"
	certsDir         = "certs"
	clientsDir       = "clients"
)

// DefaultClientName is the client identity of a deployment's client.pem:
// the name the signer counts that client's bounds and share by.
const DefaultClientName = "asyncsignd client"

// signingKeys are the keys Init makes, by file stem: one of each type
// and size a TLS certificate commonly holds. Each front end's
// certificate also names NAME.localhost, so that one front end can serve
// them all, choosing by SNI.
var signingKeys = []struct {
	name string
	gen  func() (crypto.Signer, error)
}{
	{"ecdsap256", ecdsaGen(elliptic.P256())},
	{"ecdsap384", ecdsaGen(elliptic.P384())},
	{"ecdsap521", ecdsaGen(elliptic.P521())},
	{"rsa2048", rsaGen(2048)},
	{"rsa3072", rsaGen(3072)},
	{"rsa4096", rsaGen(4096)},
	{"ed25519", func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }},
}

// validity is how long the certificates Init makes are valid.
const validity = 10 * 365 * 24 * time.Hour

// ErrOldDeployment is returned (wrapped) for a deployment written by an
// older Init, whose one CA signed every certificate: any of them could
// pose as the signer. Such a deployment is not served nor dialed; re-run
// `asyncsignd init` in a new directory.
var ErrOldDeployment = errors.New("signer: deployment from an older asyncsignd init, with one CA for every role: re-run `asyncsignd init` in a new directory")

// initStep, when set (by tests), is called after each file Init writes,
// with its name: the moment a kill would leave things as they are.
var initStep func(name string)

// Init writes a ready deployment into dir:
//
//	ca.pem, ca-key.pem                the site CA, which issues certs/*.pem:
//	                                  what a browser or curl trusts
//	signer-ca.pem, signer-ca-key.pem  the signer CA, which issues server.pem:
//	                                  what clients trust for signers
//	client-ca.pem, client-ca-key.pem  the client CA, which issues clients'
//	                                  certificates: what the signer trusts
//	server.pem, server-key.pem        the signer's identity, for localhost
//	                                  and 127.0.0.1
//	client.pem, client-key.pem        a client's identity, DefaultClientName
//	keys/NAME.key                     signing keys, PKCS #8 PEM, for NAME
//	                                  in ecdsap256, ecdsap384, ecdsap521,
//	                                  rsa2048, rsa3072, rsa4096, ed25519
//	certs/NAME.pem                    a front end's certificate for each
//	                                  signing key, for localhost,
//	                                  127.0.0.1 and NAME.localhost
//
// Private keys get mode 0600, keys/ mode 0700. AddClient adds more client
// identities.
//
// Init is all or nothing: it builds the deployment in a new directory
// beside dir (named .NAME.init-PID-*) and renames it to dir at the end, so
// that whenever it stops, even killed, dir holds a whole deployment or
// none. dir must not exist, or be an empty directory (which is replaced):
// otherwise Init writes nothing and returns an error wrapping fs.ErrExist.
// The half-built directory of an Init that was killed is removed by the
// next Init of the same dir, once its process is gone.
func Init(dir string) error {
	dir = filepath.Clean(dir)
	if err := checkInitTarget(dir); err != nil {
		return fmt.Errorf("signer: init %s: %w", dir, err)
	}
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	prefix := "." + base + ".init-"
	removeStale(parent, prefix)
	tmp, err := os.MkdirTemp(parent, prefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return fmt.Errorf("signer: init: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := build(tmp); err != nil {
		return fmt.Errorf("signer: init: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("signer: init: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		return fmt.Errorf("signer: init: %w", err)
	}
	// os.Rename never replaces a directory, even an empty one: remove it
	// first (which only an empty one allows).
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("signer: init %s: %w (%w)", dir, fs.ErrExist, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Lstat(dir); serr == nil {
			err = fmt.Errorf("%s was created meanwhile: %w", dir, fs.ErrExist)
		}
		return fmt.Errorf("signer: init %s: %w", dir, err)
	}
	done = true
	// The rename is the deployment's birth: make it durable too.
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("signer: init: %w", err)
	}
	return nil
}

// checkInitTarget accepts a dir that does not exist or is an empty
// directory.
func checkInitTarget(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s exists and is not a directory: %w", dir, fs.ErrExist)
	}
	names, err := readDirNames(dir)
	if err != nil {
		return err
	}
	if len(names) > 0 {
		return fmt.Errorf("%s exists and is not empty (it holds %s; init writes only a new deployment): %w", dir, names[0], fs.ErrExist)
	}
	return nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return names, err
}

// removeStale removes what killed Inits of the same directory left in
// parent: directories named prefix+PID-* whose process is gone.
func removeStale(parent, prefix string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return // MkdirTemp will say what is wrong with parent
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		os.RemoveAll(filepath.Join(parent, e.Name()))
	}
}

// deploymentFiles lists the files Init writes.
func deploymentFiles() []string {
	names := []string{caCertFile, caKeyFile, signerCACertFile, signerCAKeyFile, clientCACertFile, clientCAKeyFile,
		serverCertFile, serverKeyFile, clientCertFile, clientKeyFile}
	for _, sk := range signingKeys {
		names = append(names, filepath.Join(keysDir, sk.name+".key"), filepath.Join(certsDir, sk.name+".pem"))
	}
	return names
}

// writeNew writes a file that must not exist yet, and syncs it: the
// rename that publishes it must not outlive its contents in a crash.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		err = nil // a file system that cannot sync directories
	}
	return err
}

// writer writes the files of a deployment into dir, each as it is made.
type writer struct {
	dir string
	now time.Time
}

func (w writer) file(name string, data []byte, perm fs.FileMode) error {
	if err := writeNew(filepath.Join(w.dir, name), data, perm); err != nil {
		return err
	}
	if initStep != nil {
		initStep(name)
	}
	return nil
}

func (w writer) key(name string, k crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return err
	}
	return w.file(name, pemBlock("PRIVATE KEY", der), 0o600)
}

func (w writer) cert(name string, der []byte) error {
	return w.file(name, pemBlock("CERTIFICATE", der), 0o644)
}

// ca makes a CA named cn and writes it as certName and keyName.
func (w writer) ca(cn, certName, keyName string) (*x509.Certificate, crypto.Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := caTemplate(cn, w.now)
	der, cert, err := issue(tmpl, tmpl, k.Public(), k)
	if err != nil {
		return nil, nil, err
	}
	if err := w.cert(certName, der); err != nil {
		return nil, nil, err
	}
	if err := w.key(keyName, k); err != nil {
		return nil, nil, err
	}
	return cert, k, nil
}

// identity makes a key and a certificate for cn, issued by ca for usage,
// and writes them as certName and keyName.
func (w writer) identity(ca *x509.Certificate, caKey crypto.Signer, cn string, usage x509.ExtKeyUsage, certName, keyName string) error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, _, err := issue(leafTemplate(cn, k.Public(), usage, w.now), ca, k.Public(), caKey)
	if err != nil {
		return err
	}
	if err := w.cert(certName, der); err != nil {
		return err
	}
	return w.key(keyName, k)
}

// build makes every key and certificate of a deployment and writes them
// into dir, which exists and is empty.
func build(dir string) error {
	w := writer{dir: dir, now: time.Now()}
	for _, d := range []struct {
		name string
		perm fs.FileMode
	}{{keysDir, 0o700}, {certsDir, 0o755}} {
		if err := os.Mkdir(filepath.Join(dir, d.name), d.perm); err != nil {
			return err
		}
	}
	siteCA, siteKey, err := w.ca("asyncsignd site CA", caCertFile, caKeyFile)
	if err != nil {
		return err
	}
	signerCA, signerKey, err := w.ca("asyncsignd signer CA", signerCACertFile, signerCAKeyFile)
	if err != nil {
		return err
	}
	clientCA, clientKey, err := w.ca("asyncsignd client CA", clientCACertFile, clientCAKeyFile)
	if err != nil {
		return err
	}
	if err := w.identity(signerCA, signerKey, "asyncsignd", x509.ExtKeyUsageServerAuth, serverCertFile, serverKeyFile); err != nil {
		return err
	}
	if err := w.identity(clientCA, clientKey, DefaultClientName, x509.ExtKeyUsageClientAuth, clientCertFile, clientKeyFile); err != nil {
		return err
	}
	made, err := genSigningKeys()
	if err != nil {
		return err
	}
	for i, sk := range signingKeys {
		k := made[i]
		if err := w.key(filepath.Join(keysDir, sk.name+".key"), k); err != nil {
			return err
		}
		tmpl := leafTemplate("localhost", k.Public(), x509.ExtKeyUsageServerAuth, w.now)
		tmpl.DNSNames = append(tmpl.DNSNames, sk.name+".localhost")
		der, _, err := issue(tmpl, siteCA, k.Public(), siteKey)
		if err != nil {
			return err
		}
		if err := w.cert(filepath.Join(certsDir, sk.name+".pem"), der); err != nil {
			return err
		}
	}
	return nil
}

// caTemplate is the template of a CA certificate valid from now.
func caTemplate(cn string, now time.Time) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
}

// leafTemplate is the template of a certificate for pub, valid from now,
// for usage; a server's is for localhost and 127.0.0.1.
func leafTemplate(cn string, pub crypto.PublicKey, usage x509.ExtKeyUsage, now time.Time) *x509.Certificate {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	if _, ok := pub.(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	return tmpl
}

// issue signs tmpl as parent with a fresh random serial number.
func issue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return der, cert, err
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
