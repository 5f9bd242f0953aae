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
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The files of a deployment, relative to its directory (the CAs' keys:
// to its CA directory, CADir). Each role has a
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

// caKeyFiles are the CA keys Init writes into CADir(dir), out of dir.
var caKeyFiles = []string{caKeyFile, signerCAKeyFile, clientCAKeyFile}

// CADir returns the directory that holds the private keys of the CAs of
// the deployment dir: dir's path with ".ca" appended (deploy.ca beside
// deploy). Init writes them there, out of the directory the signer
// serves from, so that a signer that is broken into gives away no CA:
// whoever holds the client CA's key makes clients, the signer CA's
// signers, the site CA's front ends. Only AddClient (asyncsignd client)
// needs them, and a key made in a token (asyncsignd pkcs11-key), the
// site CA's: keep the directory offline between those, and put it back
// at CADir(dir) for them.
func CADir(dir string) string { return filepath.Clean(dir) + ".ca" }

// ErrHost is returned (wrapped) by Init for a host name that is neither
// an IP address nor a DNS name (letters, digits, '-' and '.', or a
// leading "*." wildcard).
var ErrHost = errors.New("signer: bad host name")

var dnsName = regexp.MustCompile(`^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// checkHosts refuses a host name a certificate cannot hold.
func checkHosts(hosts []string) error {
	for _, h := range hosts {
		if net.ParseIP(h) == nil && (len(h) > 253 || !dnsName.MatchString(h)) {
			return fmt.Errorf("%w %q: want an IP address or a DNS name", ErrHost, h)
		}
	}
	return nil
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

// Init writes a ready deployment into dir, and the keys of its CAs into
// CADir(dir):
//
//	ca.pem                 the site CA, which issues certs/*.pem: what a
//	                       browser or curl trusts
//	signer-ca.pem          the signer CA, which issues server.pem: what
//	                       clients trust for signers
//	client-ca.pem          the client CA, which issues clients'
//	                       certificates: what the signer trusts
//	server.pem, server-key.pem   the signer's identity, for localhost,
//	                             127.0.0.1 and hosts
//	client.pem, client-key.pem   a client's identity, DefaultClientName
//	keys/NAME.key          signing keys, PKCS #8 PEM, for NAME in
//	                       ecdsap256, ecdsap384, ecdsap521, rsa2048,
//	                       rsa3072, rsa4096, ed25519
//	certs/NAME.pem         a front end's certificate for each signing key,
//	                       for localhost, 127.0.0.1, NAME.localhost and
//	                       hosts
//
//	CADir(dir)/ca-key.pem, signer-ca-key.pem, client-ca-key.pem
//	                       the CAs' private keys, out of dir
//
// hosts are more names for the certificates of the signer and of the
// front ends, each an IP address or a DNS name (ErrHost otherwise).
// Private keys get mode 0600, keys/ and CADir(dir) mode 0700. AddClient
// adds more client identities.
//
// Init is all or nothing: it builds the deployment and the CA directory
// in new directories beside dir (named .NAME.init-PID-* and
// .NAME.ca.init-PID-*) and renames them into place at the end, the CA
// directory first, so that whenever it stops, even killed, dir holds a
// whole deployment or none (a kill between the two renames leaves
// CADir(dir) alone, marked: the next Init removes it). dir must not exist,
// or be an empty directory (which is replaced), and CADir(dir) must not
// exist: otherwise Init writes nothing and returns an error wrapping
// fs.ErrExist. The half-built directories of an Init that was killed are
// removed by the next Init of the same dir, once its process is gone.
func Init(dir string, hosts ...string) error {
	dir = filepath.Clean(dir)
	if err := checkHosts(hosts); err != nil {
		return err
	}
	if err := checkInitTarget(dir); err != nil {
		return fmt.Errorf("signer: init %s: %w", dir, err)
	}
	caDir := CADir(dir)
	removeStaleCADir(caDir)
	if _, err := os.Lstat(caDir); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			err = fmt.Errorf("%s exists (the CA keys of another deployment, or of an init that was killed: remove it if so): %w", caDir, fs.ErrExist)
		}
		return fmt.Errorf("signer: init %s: %w", dir, err)
	}
	parent, base := filepath.Dir(dir), filepath.Base(dir)
	prefix, caPrefix := "."+base+".init-", "."+base+".ca.init-"
	removeStale(parent, prefix)
	removeStale(parent, caPrefix)
	tmp, err := os.MkdirTemp(parent, prefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return fmt.Errorf("signer: init: %w", err)
	}
	tmpCA, err := os.MkdirTemp(parent, caPrefix+strconv.Itoa(os.Getpid())+"-") // mode 0700
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("signer: init: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
			os.RemoveAll(tmpCA)
		}
	}()
	// The mark says, until dir is in place too, that the CA directory
	// is an Init's that may yet be killed: the next Init removes it.
	mark := filepath.Join(tmpCA, initMark)
	if err := writeNew(mark, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		return fmt.Errorf("signer: init: %w", err)
	}
	if err := build(tmp, tmpCA, hosts); err != nil {
		return fmt.Errorf("signer: init: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("signer: init: %w", err)
	}
	for _, d := range []string{tmp, tmpCA} {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("signer: init: %w", err)
		}
	}
	// os.Rename never replaces a directory, even an empty one: remove it
	// first (which only an empty one allows).
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("signer: init %s: %w (%w)", dir, fs.ErrExist, err)
	}
	// os.Rename refuses to replace a directory, so a CADir made
	// meanwhile stays.
	if err := os.Rename(tmpCA, caDir); err != nil {
		return fmt.Errorf("signer: init %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Lstat(dir); serr == nil {
			err = fmt.Errorf("%s was created meanwhile: %w", dir, fs.ErrExist)
		}
		os.Rename(caDir, tmpCA) // so that the deferred cleanup removes it
		return fmt.Errorf("signer: init %s: %w", dir, err)
	}
	done = true
	// The renames are the deployment's birth: make them durable too.
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("signer: init: %w", err)
	}
	if err := os.Remove(filepath.Join(caDir, initMark)); err != nil {
		return fmt.Errorf("signer: init: %w", err)
	}
	return nil
}

// initMark is the file that marks a CA directory as an Init's, not yet
// done: it holds the Init's process ID.
const initMark = ".init-pid"

// removeStaleCADir removes caDir if an Init killed between its two
// renames left it: it holds initMark, naming a process that is gone,
// and its deployment directory does not exist.
func removeStaleCADir(caDir string) {
	data, err := os.ReadFile(filepath.Join(caDir, initMark))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(string(data))
	if err != nil || pid <= 0 || processAlive(pid) {
		return
	}
	if _, err := os.Lstat(strings.TrimSuffix(caDir, ".ca")); !errors.Is(err, fs.ErrNotExist) {
		return
	}
	os.RemoveAll(caDir)
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

// deploymentFiles lists the files Init writes into the deployment's
// directory (and caKeyFiles those it writes into CADir).
func deploymentFiles() []string {
	names := []string{caCertFile, signerCACertFile, clientCACertFile,
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

// writer writes the files of a deployment into dir, each as it is made,
// and the CAs' keys into caDir.
type writer struct {
	dir   string
	caDir string
	now   time.Time
	hosts []string // more names for the server certificates
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
	if err := (writer{dir: w.caDir, now: w.now}).key(keyName, k); err != nil {
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
	der, _, err := issue(w.leaf(cn, k.Public(), usage), ca, k.Public(), caKey)
	if err != nil {
		return err
	}
	if err := w.cert(certName, der); err != nil {
		return err
	}
	return w.key(keyName, k)
}

// build makes every key and certificate of a deployment and writes them
// into dir, and the CAs' keys into caDir; both exist and are empty.
func build(dir, caDir string, hosts []string) error {
	w := writer{dir: dir, caDir: caDir, now: time.Now(), hosts: hosts}
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
		tmpl := w.leaf("localhost", k.Public(), x509.ExtKeyUsageServerAuth)
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

// leaf is leafTemplate with w's hosts added to a server's names.
func (w writer) leaf(cn string, pub crypto.PublicKey, usage x509.ExtKeyUsage) *x509.Certificate {
	tmpl := leafTemplate(cn, pub, usage, w.now)
	if usage == x509.ExtKeyUsageServerAuth {
		for _, h := range w.hosts {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
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

// ErrCAKeyServed is returned (wrapped) by New for a deployment directory
// that holds a CA's private key, as one an Init before CADir wrote does:
// whoever broke into the signer could issue certificates with it. The
// error names the file and the commands that move it to CADir.
var ErrCAKeyServed = errors.New("signer: a CA's private key is in the directory the signer serves from")

// checkNoCAKeys refuses a dir that holds a CA's private key, or that is
// no directory at all.
func checkNoCAKeys(dir string) error {
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("signer: deployment directory: %w (asyncsignd init writes one)", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("signer: deployment directory %s is not a directory", dir)
	}
	for _, name := range caKeyFiles {
		path := filepath.Join(dir, name)
		if _, err := os.Lstat(path); err == nil {
			ca := CADir(dir)
			return fmt.Errorf("%w: %s; move the CA keys out, and offline if you can: mkdir -m 700 %s && mv %s %s/",
				ErrCAKeyServed, path, ca, filepath.Join(dir, "*ca-key.pem"), ca)
		}
	}
	return nil
}
