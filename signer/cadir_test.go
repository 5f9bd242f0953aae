package signer

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestInitKeepsCAKeysOut (first contact, item 7 of the signer in
// production: init wrote the CAs' private keys into the directory the
// signer serves from): the deployment holds no CA key; CADir does, mode
// 0700, and AddClient issues clients from it.
func TestInitKeepsCAKeysOut(t *testing.T) {
	for _, name := range caKeyFiles {
		if _, err := os.Lstat(filepath.Join(testDir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is in the deployment: %v", name, err)
		}
		fi, err := os.Stat(filepath.Join(CADir(testDir), name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s in %s: %v, %v; want mode 0600", name, CADir(testDir), fi, err)
		}
	}
	if fi, err := os.Stat(CADir(testDir)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v, %v; want mode 0700", CADir(testDir), fi, err)
	}
	dir := copyDeployment(t)
	if _, err := AddClient(dir, "carol"); err != nil {
		t.Fatal(err)
	}
}

// TestServeRefusesCAKey (item 7 of the signer in production): a CA's
// private key in the deployment, as an older init left it, stops New,
// and the error names the file and how to move it.
func TestServeRefusesCAKey(t *testing.T) {
	dir := copyDeployment(t)
	from, to := filepath.Join(CADir(dir), clientCAKeyFile), filepath.Join(dir, clientCAKeyFile)
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Dir: dir})
	if !errors.Is(err, ErrCAKeyServed) || !strings.Contains(err.Error(), to) || !strings.Contains(err.Error(), "mv ") {
		t.Errorf("New with %s: %v; want ErrCAKeyServed naming it and the mv that fixes it", to, err)
	}
	// An older deployment still issues clients, from the key where it is.
	if _, err := AddClient(dir, "dave"); err != nil {
		t.Errorf("AddClient with the client CA's key in the deployment: %v", err)
	}
}

// TestAddClientWithoutCAKey (item 7 of the signer in production): with
// the CA keys moved offline, AddClient says which file it looked for and
// where init keeps it; a key that is not the certificate's is named too.
func TestAddClientWithoutCAKey(t *testing.T) {
	dir := copyDeployment(t)
	if err := os.RemoveAll(CADir(dir)); err != nil {
		t.Fatal(err)
	}
	_, err := AddClient(dir, "erin")
	if want := filepath.Join(CADir(dir), clientCAKeyFile); !errors.Is(err, ErrNoCAKey) || !strings.Contains(err.Error(), want) {
		t.Errorf("AddClient without the CA dir: %v; want ErrNoCAKey naming %s", err, want)
	}
	dir = copyDeployment(t)
	wrong := filepath.Join(CADir(dir), signerCAKeyFile)
	data, err := os.ReadFile(wrong)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(CADir(dir), clientCAKeyFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := AddClient(dir, "erin"); err == nil || !strings.Contains(err.Error(), "is not the key of") {
		t.Errorf("AddClient with the signer CA's key as the client CA's: %v", err)
	}
}

// TestInitHosts (item 7 of the signer in production): -hosts names go
// into the signer's and the front ends' certificates, IPs as IPs; a name
// no certificate can hold is refused before anything is written.
func TestInitHosts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deploy")
	if err := Init(dir, "signer.example.com", "10.0.0.7", "::1"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{serverCertFile, filepath.Join(certsDir, "ecdsap256.pem")} {
		c := readCertAt(t, filepath.Join(dir, name))
		for _, h := range []string{"localhost", "127.0.0.1", "signer.example.com", "10.0.0.7", "::1"} {
			if err := c.VerifyHostname(h); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if !slices.ContainsFunc(c.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP("10.0.0.7")) }) {
			t.Errorf("%s: 10.0.0.7 is not an IP address of it: %v", name, c.IPAddresses)
		}
	}
	if c := readCertAt(t, filepath.Join(dir, clientCertFile)); len(c.DNSNames) != 0 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("client.pem got host names: %v", c.DNSNames)
	}
	for _, bad := range []string{"", "a b", "-x.com", "x..com", "a,b", "host/path"} {
		dir := filepath.Join(t.TempDir(), "deploy")
		if err := Init(dir, bad); !errors.Is(err, ErrHost) {
			t.Errorf("Init with host %q: %v, want ErrHost", bad, err)
		}
		if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Init with host %q wrote %s", bad, dir)
		}
	}
}

// TestInitRefusesExistingCADir: a CADir already there (another
// deployment's CA, or a killed Init's) is neither replaced nor reused.
func TestInitRefusesExistingCADir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deploy")
	if err := os.Mkdir(CADir(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Init(dir); !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), CADir(dir)) {
		t.Errorf("Init beside an existing %s: %v, want fs.ErrExist naming it", CADir(dir), err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Init wrote %s", dir)
	}
}

// TestInitKilledBetweenRenames: the CA directory an Init killed after
// renaming it, before renaming the deployment, is removed by the next
// Init; one whose Init still runs is not.
func TestInitKilledBetweenRenames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deploy")
	if err := os.Mkdir(CADir(dir), 0o700); err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(CADir(dir), initMark)
	os.WriteFile(mark, []byte(strconv.Itoa(os.Getpid())), 0o600) // alive
	if err := Init(dir); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Init beside the CA dir of a running Init: %v, want fs.ErrExist", err)
	}
	os.WriteFile(mark, []byte("2147483646"), 0o600) // gone
	if err := Init(dir); err != nil {
		t.Fatalf("Init beside the CA dir of a killed Init: %v", err)
	}
	if _, err := os.Lstat(mark); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a finished Init left its mark: %v", err)
	}
}

// TestErrorsNameTheFile (first contact, item 7 of the signer in
// production: a bad server.pem was reported as "tls: failed to find any
// PEM data in certificate input", a missing deployment by the first file
// missing in it): the error says which file, or that the directory
// itself is missing.
func TestErrorsNameTheFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nowhere")
	if _, err := New(Config{Dir: missing}); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "deployment directory") || !strings.Contains(err.Error(), missing) {
		t.Errorf("New of a missing directory: %v", err)
	}
	for _, name := range []string{serverCertFile, clientCertFile} {
		dir := copyDeployment(t)
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
		var err error
		if name == serverCertFile {
			_, err = New(Config{Dir: dir})
		} else {
			_, err = ClientTLS(dir)
		}
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s holding junk: %v; want an error naming it", name, err)
		}
	}
}
