//go:build cgo && linux

package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-e1024768/async/internal/signtest"
	"github.com/seed-e1024768/async/internal/softhsm"
	"github.com/seed-e1024768/async/remote"
	"github.com/seed-e1024768/async/signer"
)

// pkcs11Args are the flags that name tok's token.
func pkcs11Args(tok *softhsm.Token) []string {
	return []string{"-pkcs11", tok.Module, "-pkcs11-token", tok.Label, "-pkcs11-pin-file", tok.PINFile}
}

// runOK runs the binary to its end and fails the test unless it exits 0;
// it returns its standard output.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("asyncsignd %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return string(out)
}

// TestPKCS11KeyAndServe: asyncsignd pkcs11-key makes an ECDSA and an RSA
// key in a SoftHSM2 token and their certificates from the site CA; serve
// -pkcs11 serves them, and only them, to package remote, which gets
// signatures that verify with the certificates' keys, PSS included; on
// SIGTERM it exits 0, closing the token. Item 2 of "the signer in
// production".
func TestPKCS11KeyAndServe(t *testing.T) {
	needBinary(t)
	tok := softhsm.New(t, "serve")
	dir := filepath.Join(t.TempDir(), "deploy")
	runOK(t, "init", dir)
	before, _ := os.ReadDir(filepath.Join(dir, "keys"))
	for name, typ := range map[string]string{"tok": "ecdsap256", "tokrsa": "rsa2048"} {
		out := runOK(t, append(append([]string{"pkcs11-key"}, pkcs11Args(tok)...), "-type", typ, "-name", name, dir)...)
		if !strings.Contains(out, "certs/"+name+".pem") {
			t.Errorf("pkcs11-key says %q; want the certificate it wrote", out)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "keys")); len(entries) != len(before) {
		t.Errorf("keys/ holds %d files after pkcs11-key; want init's %d: token keys are never files", len(entries), len(before))
	}
	srv := signtest.Start(t, bin, append([]string{"serve", "-dir", dir, "-listen", "127.0.0.1:0"}, pkcs11Args(tok)...)...)
	t.Cleanup(srv.Kill)

	tc, err := signer.ClientTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := remote.New(remote.Config{Addrs: []string{srv.Addr}, TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := testContext(t)
	digest := sha256.Sum256([]byte("signed by the token"))
	for _, c := range []struct {
		name string
		alg  remote.Algorithm
	}{{"tok", remote.ECDSAP256SHA256}, {"tokrsa", remote.RSAPSSSHA256}, {"tokrsa", remote.RSAPKCS1SHA256}} {
		cert, err := signer.ReadCert(dir, c.name)
		if err != nil {
			t.Fatal(err)
		}
		id, err := signer.KeyID(cert.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := e.Sign(ctx, id, c.alg, digest[:])
		if err != nil {
			t.Fatalf("%s %v: %v", c.name, c.alg, err)
		}
		switch pub := cert.PublicKey.(type) {
		case *ecdsa.PublicKey:
			if !ecdsa.VerifyASN1(pub, digest[:], sig) {
				err = errors.New("ECDSA signature does not verify")
			}
		case *rsa.PublicKey:
			if c.alg == remote.RSAPSSSHA256 {
				err = rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			} else {
				err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
			}
		}
		if err != nil {
			t.Errorf("%s %v: %v", c.name, c.alg, err)
		}
	}
	// The key files of DIR/keys are not served alongside the token's.
	fileKey, _ := certKey(t, "ecdsap256")
	if _, err := e.Sign(ctx, fileKey, remote.ECDSAP256SHA256, digest[:]); err == nil {
		t.Error("serve -pkcs11 signed with a key of DIR/keys")
	}
	e.Close()
	srv.Stop()
	if err := wait(t, srv); err != nil {
		t.Errorf("serve -pkcs11 on SIGTERM: %v\n%s", err, srv.Stderr)
	}
}

// TestPKCS11Errors: a missing module, a token not found, a wrong PIN, a
// token with no key, and a PIN file others may read each stop serve and
// pkcs11-key with exit status 1 and a message naming the cause (never
// the PIN); flags that name a token only in part are bad arguments.
// Item 2 of "the signer in production".
func TestPKCS11Errors(t *testing.T) {
	needBinary(t)
	tok := softhsm.New(t, "empty")
	tmp := t.TempDir()
	wrongPIN := filepath.Join(tmp, "wrong-pin")
	openPIN := filepath.Join(tmp, "open-pin")
	for p, mode := range map[string]os.FileMode{wrongPIN: 0o600, openPIN: 0o644} {
		if err := os.WriteFile(p, []byte("not-the-pin-77\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	certs := t.TempDir() // pkcs11-key's DIR: it must fail before writing
	for _, c := range []struct {
		name               string
		module, label, pin string
		says               string
	}{
		{"missing module", "/nonexistent/pkcs11.so", tok.Label, tok.PINFile, "/nonexistent/pkcs11.so"},
		{"no such token", tok.Module, "nope", tok.PINFile, `no token labelled "nope"`},
		{"wrong PIN", tok.Module, tok.Label, wrongPIN, "refused the PIN"},
		{"PIN file too open", tok.Module, tok.Label, openPIN, "chmod 600 " + openPIN},
		{"missing PIN file", tok.Module, tok.Label, filepath.Join(tmp, "none"), filepath.Join(tmp, "none")},
	} {
		t.Run(c.name, func(t *testing.T) {
			flags := []string{"-pkcs11", c.module, "-pkcs11-token", c.label, "-pkcs11-pin-file", c.pin}
			for _, args := range [][]string{
				append([]string{"serve", "-dir", deploy, "-listen", "127.0.0.1:0"}, flags...),
				append(append([]string{"pkcs11-key"}, flags...), "-name", "k", certs),
			} {
				code, stderr := exitCode(t, args...)
				if code != 1 || !strings.Contains(stderr, c.says) {
					t.Errorf("%s: exit %d, %q; want 1 saying %q", args[0], code, stderr, c.says)
				}
				if strings.Contains(stderr, "not-the-pin-77") || strings.Contains(stderr, tok.PIN) {
					t.Errorf("%s: the PIN in the message %q", args[0], stderr)
				}
			}
		})
	}
	t.Run("empty token", func(t *testing.T) {
		code, stderr := exitCode(t, append([]string{"serve", "-dir", deploy, "-listen", "127.0.0.1:0"}, pkcs11Args(tok)...)...)
		if code != 1 || !strings.Contains(stderr, `token "empty" holds no ECDSA or RSA key`) || !strings.Contains(stderr, "asyncsignd pkcs11-key") {
			t.Errorf("serve of an empty token: exit %d, %q", code, stderr)
		}
	})
	if entries, _ := os.ReadDir(certs); len(entries) != 0 {
		t.Errorf("a failed pkcs11-key wrote %d files", len(entries))
	}
	for _, args := range [][]string{
		{"serve", "-dir", deploy, "-listen", "127.0.0.1:0", "-pkcs11", tok.Module},
		{"pkcs11-key", "-name", "k", certs},
		append(append([]string{"pkcs11-key"}, pkcs11Args(tok)...), "-name", "k"),
		append(append([]string{"pkcs11-key"}, pkcs11Args(tok)...), "-name", "../k", certs),
		append(append([]string{"pkcs11-key"}, pkcs11Args(tok)...), "-type", "dsa", "-name", "k", certs),
	} {
		if code, stderr := exitCode(t, args...); code != 2 || !strings.Contains(stderr, "usage") {
			t.Errorf("%q: exit %d, %q; want 2 and the usage", args, code, stderr)
		}
	}
	out, err := exec.Command(bin, "pkcs11-key", "-h").Output()
	if err != nil || !strings.Contains(string(out), "usage: asyncsignd pkcs11-key") {
		t.Errorf("pkcs11-key -h: %v, %q; want the usage on stdout, exit 0", err, out)
	}
}
