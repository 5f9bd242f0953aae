package signer

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keyPair loads a certificate of the deployment with its private key.
func keyPair(t *testing.T, cert, key string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(testDir, cert), filepath.Join(testDir, key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handshake runs a TLS handshake between client and server over
// loopback and returns the client's and the server's errors: the client's
// says whether it took the server's certificate, the server's whether it
// took the client's.
func handshake(t *testing.T, client, server *tls.Config) (cerr, serr error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := lis.Accept()
		if err != nil {
			done <- err
			return
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		s := tls.Server(conn, server)
		err = s.Handshake()
		if err == nil {
			s.Write([]byte{1})
		}
		s.Close()
		done <- err
	}()
	conn, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(conn, client)
	if cerr = c.Handshake(); cerr == nil {
		c.Read(make([]byte, 1))
	}
	c.Close()
	return cerr, <-done
}

// TestRoles (item 10 of the signer audit: one CA signed every
// certificate, so a front end's certificate served by a fake signer was
// taken for the signer's): each certificate of a deployment is accepted
// in its own role only. A client (ClientTLS) takes only the signer's
// certificate for a signer; the signer (serverTLS) takes only client
// certificates for clients, the default one and those AddClient issues.
func TestRoles(t *testing.T) {
	clientCfg, err := ClientTLS(testDir)
	if err != nil {
		t.Fatal(err)
	}
	serverCfg, err := serverTLS(testDir)
	if err != nil {
		t.Fatal(err)
	}
	signer := keyPair(t, serverCertFile, serverKeyFile)
	frontEnd := keyPair(t, "certs/ecdsap256.pem", "keys/ecdsap256.key")
	client := keyPair(t, clientCertFile, clientKeyFile)
	other, err := AddClient(testDir, "roles-test")
	if err != nil {
		t.Fatal(err)
	}
	otherCfg, err := ClientTLS(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		server tls.Certificate
		ok     bool
	}{
		{"the signer's certificate", signer, true},
		{"a front end's certificate", frontEnd, false},
		{"a client's certificate", client, false},
	} {
		srv := serverCfg.Clone()
		srv.Certificates = []tls.Certificate{c.server}
		cerr, _ := handshake(t, clientCfg, srv)
		if c.ok != (cerr == nil) {
			t.Errorf("a signer presenting %s: client's error %v", c.name, cerr)
		}
	}
	for _, c := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"the deployment's client", clientCfg, true},
		{"a client AddClient issued", otherCfg, true},
		{"the signer's certificate", withCert(clientCfg, signer), false},
		{"a front end's certificate", withCert(clientCfg, frontEnd), false},
	} {
		_, serr := handshake(t, c.cfg, serverCfg)
		if c.ok != (serr == nil) {
			t.Errorf("a client presenting %s: server's error %v", c.name, serr)
		}
	}
}

// withCert is cfg presenting c whatever CAs the server asks for.
func withCert(cfg *tls.Config, c tls.Certificate) *tls.Config {
	cfg = cfg.Clone()
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	return cfg
}

// TestOldDeployment (item 10): a deployment an older Init wrote, with one
// CA for every role, is neither served nor dialed, and the error says to
// re-run init in a new directory.
func TestOldDeployment(t *testing.T) {
	dir := copyDeployment(t)
	for _, f := range []string{signerCACertFile, clientCACertFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := New(Config{Dir: dir})
	if !errors.Is(err, ErrOldDeployment) || !strings.Contains(err.Error(), "re-run `asyncsignd init` in a new directory") {
		t.Errorf("New: %v, want ErrOldDeployment", err)
	}
	if _, err := ClientTLS(dir); !errors.Is(err, ErrOldDeployment) {
		t.Errorf("ClientTLS: %v, want ErrOldDeployment", err)
	}
	if _, err := AddClient(dir, "x"); !errors.Is(err, ErrOldDeployment) {
		t.Errorf("AddClient: %v, want ErrOldDeployment", err)
	}
}

// TestAddClient: a client directory is a client's whole view of the
// deployment; names are checked and never reused.
func TestAddClient(t *testing.T) {
	dir := copyDeployment(t)
	cdir, err := AddClient(dir, "b")
	if err != nil {
		t.Fatal(err)
	}
	if cdir != filepath.Join(dir, clientsDir, "b") {
		t.Errorf("AddClient = %s", cdir)
	}
	for _, f := range []string{signerCACertFile, clientCertFile, clientKeyFile, "certs/ecdsap256.pem", "certs/ed25519.pem", "certs/rsa2048.pem"} {
		if _, err := os.Stat(filepath.Join(cdir, f)); err != nil {
			t.Error(err)
		}
	}
	if fi, err := os.Stat(filepath.Join(cdir, clientKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("client-key.pem: %v %v, want mode 0600", fi, err)
	}
	c, err := ReadCert(cdir, "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	if cn := readCertAt(t, filepath.Join(cdir, clientCertFile)).Subject.CommonName; cn != "b" {
		t.Errorf("the client's name: %q", cn)
	}
	if want, _ := ReadCert(dir, "ed25519"); !c.Equal(want) {
		t.Errorf("certs/ed25519.pem differs")
	}
	if _, err := AddClient(dir, "b"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("AddClient again: %v, want fs.ErrExist", err)
	}
	for _, bad := range []string{"", "../x", "a/b", ".hidden", "a b", strings.Repeat("x", 65)} {
		if _, err := AddClient(dir, bad); !errors.Is(err, ErrClientName) {
			t.Errorf("AddClient(%q): %v, want ErrClientName", bad, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, clientsDir))
	if len(entries) != 1 {
		t.Errorf("clients/ holds %d entries, want 1", len(entries))
	}
}
