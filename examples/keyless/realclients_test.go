//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"io"
	"log"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// clientsAtOnce bounds the real clients a test runs at once.
const clientsAtOnce = 8

// versions are the TLS versions the real clients are pinned to, with
// their flags: openssl's, and curl's.
var versions = []struct {
	v       uint16
	name    string
	openssl string
	curl    []string
}{
	{tls.VersionTLS12, "TLS1.2", "-tls1_2", []string{"--tlsv1.2", "--tls-max", "1.2"}},
	{tls.VersionTLS13, "TLS1.3", "-tls1_3", []string{"--tlsv1.3", "--tls-max", "1.3"}},
}

// allowed reports whether a handshake at version may be signed with
// scheme by a certificate with the key pub that offers offered: what
// crypto/tls lets a server pick (TLS 1.3 binds an ECDSA scheme to its
// curve, and has no PKCS #1 v1.5 handshake signatures).
func allowed(version uint16, pub crypto.PublicKey, offered []tls.SignatureScheme, scheme tls.SignatureScheme) bool {
	if !slices.Contains(offered, scheme) {
		return false
	}
	if version < tls.VersionTLS13 {
		return true
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		own := map[elliptic.Curve]tls.SignatureScheme{
			elliptic.P256(): tls.ECDSAWithP256AndSHA256,
			elliptic.P384(): tls.ECDSAWithP384AndSHA384,
			elliptic.P521(): tls.ECDSAWithP521AndSHA512,
		}
		return own[k.Curve] == scheme
	case *rsa.PublicKey:
		return !slices.Contains([]tls.SignatureScheme{tls.PKCS1WithSHA256, tls.PKCS1WithSHA384, tls.PKCS1WithSHA512}, scheme)
	}
	return true
}

// foreign is a scheme of another type of key than pub's: one the key can
// never make.
func foreign(pub crypto.PublicKey) tls.SignatureScheme {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return tls.Ed25519
	case ed25519.PublicKey:
		return tls.PSSWithSHA256
	}
	return tls.ECDSAWithP256AndSHA256
}

// clientRun is one run of a real client, and what came of it.
type clientRun struct {
	name           string // the subtest's: site/version/scheme/outcome
	args           []string
	stdin          string
	stdout, stderr string
	err            error
	check          func(t *testing.T, r *clientRun)
}

// runAll runs every client of runs, clientsAtOnce at a time, each for at
// most 30s, then checks each in a subtest of its name.
func runAll(t *testing.T, bin string, runs []*clientRun) {
	t.Helper()
	start := time.Now()
	sem := make(chan struct{}, clientsAtOnce)
	var wg sync.WaitGroup
	for _, r := range runs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, r.args...)
			cmd.Stdin = strings.NewReader(r.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			r.err = cmd.Run()
			r.stdout, r.stderr = stdout.String(), stderr.String()
		})
	}
	wg.Wait()
	t.Logf("%d runs of %s, %d at once: %v", len(runs), bin, clientsAtOnce, time.Since(start))
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) { r.check(t, r) })
	}
}

// siteServer serves a deployment whose certificates certs/NAME.pem each
// name NAME.localhost, every one of them, and returns it, the deployment,
// the server's port and the file of the CAs its clients trust. With
// inProcess the keys are in the server's process, not in a signer: the
// server's choice of schemes, and its naming of them, then meet every
// curve and hash whatever the signer's client makes.
func siteServer(t *testing.T, inProcess bool) (s *server, dir, addr, port, ca string) {
	t.Helper()
	dir = siteDeployment(t)
	if !inProcess {
		_, signerAddr := startSignerInProcess(t, dir, 0)
		s, addr, _ = startServerInProcess(t, config{dir: serverCopy(t, dir), signers: []string{signerAddr}, signTimeout: 10 * time.Second})
	} else {
		keys := make(map[string]crypto.Signer)
		for _, name := range siteNames(t, dir) {
			k := readPEMKey(t, filepath.Join(dir, "keys", name+".key"))
			id, err := keyIDOf(k.Public())
			if err != nil {
				t.Fatal(err)
			}
			keys[id] = k
		}
		chains, err := readChains(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		lookup := func(_ context.Context, id string) (key, error) { return localKey{keys[id]}, nil }
		st, err := loadSites(context.Background(), chains, lookup, defaultSite, false, log.New(io.Discard, "", 0))
		if err != nil {
			t.Fatal(err)
		}
		s = newServerWithSites(st, "local, in this process", log.New(io.Discard, "", 0))
		addr = serveInProcess(t, s)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir, addr, port, caFile(t, dir)
}

// checkScheme fails the test unless body names scheme as the handshake's,
// and, if remote, says the key was remote.
func checkScheme(t testing.TB, body string, scheme tls.SignatureScheme, remote bool) {
	t.Helper()
	if remote {
		checkBody(t, body, scheme)
	} else if want := "Handshake signature: " + schemeName(scheme) + "\n"; !strings.Contains(body, want) {
		t.Errorf("body does not say %q:\n%s", want, body)
	}
}

// siteName is a site's name, NAME.localhost for certs/NAME.pem, and its
// file stem.
func siteName(st *site) (host, stem string) {
	stem = strings.TrimSuffix(strings.TrimPrefix(st.file, "certs/"), ".pem")
	return stem + ".localhost", stem
}

// TestOpenSSLEverySigalg (item 4 of "keyless for real sites": real
// clients, every combination): for each key type of the deployment, TLS
// 1.2 and 1.3, and each signature scheme TLS has for the key's type, plus
// one of another key type, `openssl s_client -sigalgs SCHEME -servername
// NAME.localhost -verify_return_error` offering that scheme alone: where
// the key allows the scheme (the certificate offers it, and the version
// permits it with that key) the chain verifies against the deployment's
// CA and the response names the scheme and the certificate; elsewhere the
// handshake fails with the server's handshake_failure alert, and the
// server keeps serving: a crypto/tls handshake with the same site right
// after succeeds.
//
// It runs twice: with the keys in a signer (as the command serves), and
// with them in process, with keys on every curve.
func TestOpenSSLEverySigalg(t *testing.T) {
	openssl := lookTool(t, "openssl")
	for _, keys := range []string{"remote-keys", "in-process-keys"} {
		t.Run(keys, func(t *testing.T) { testOpenSSLEverySigalg(t, openssl, keys == "in-process-keys") })
	}
}

func testOpenSSLEverySigalg(t *testing.T, openssl string, inProcess bool) {
	s, dir, addr, port, ca := siteServer(t, inProcess)
	var runs []*clientRun
	for _, st := range s.sites.all {
		host, stem := siteName(st)
		pub := st.key.Public()
		for _, v := range versions {
			var schemes []tls.SignatureScheme
			for _, c := range candidates(pub) {
				schemes = append(schemes, c.scheme)
			}
			schemes = append(schemes, foreign(pub))
			for _, scheme := range schemes {
				ok := allowed(v.v, pub, st.cert.SupportedSignatureAlgorithms, scheme)
				outcome := "refused"
				if ok {
					outcome = "signed"
				}
				runs = append(runs, &clientRun{
					name: stem + "/" + v.name + "/" + schemeNames[scheme] + "/" + outcome,
					args: []string{"s_client", "-connect", "127.0.0.1:" + port, v.openssl, "-sigalgs", schemeNames[scheme],
						"-servername", host, "-verify_return_error", "-CAfile", ca, "-ign_eof"},
					stdin: "GET / HTTP/1.0\r\nHost: " + host + "\r\n\r\n",
					check: func(t *testing.T, r *clientRun) {
						if ok {
							if r.err != nil {
								t.Fatalf("openssl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.err, r.stdout, r.stderr)
							}
							if !strings.Contains(r.stdout, "Verify return code: 0 (ok)") {
								t.Errorf("s_client did not verify the chain:\n%s", r.stdout)
							}
							checkScheme(t, r.stdout, scheme, !inProcess)
							checkSite(t, r.stdout, stem)
							if want := "TLS: " + tls.VersionName(v.v) + ","; !strings.Contains(r.stdout, want) {
								t.Errorf("body does not say %q:\n%s", want, r.stdout)
							}
							return
						}
						if r.err == nil {
							t.Fatalf("openssl %s succeeded; want a handshake_failure alert\n%s", strings.Join(r.args, " "), r.stdout)
						}
						// OpenSSL: "sslv3 alert handshake failure ... SSL alert number 40".
						if !strings.Contains(r.stderr, "alert handshake failure") || !strings.Contains(r.stderr, "alert number 40") {
							t.Errorf("openssl %s: want the handshake_failure alert (40); stderr:\n%s", strings.Join(r.args, " "), r.stderr)
						}
						checkSite(t, getAs(t, dir, addr, host, false), stem) // still serving
					},
				})
			}
		}
	}
	runAll(t, openssl, runs)
}

// TestCurlEveryVersion (item 4): for each key type of the deployment and
// TLS 1.2 and 1.3, `curl --resolve NAME.localhost:PORT:127.0.0.1 --cacert
// CA` pinned to the version fetches the page, which names the version, the
// certificate and a scheme the key allows at that version; with a curl
// that has --sigalgs (7.88 has not), once for each such scheme, pinned.
func TestCurlEveryVersion(t *testing.T) {
	curl := lookTool(t, "curl")
	s, _, _, port, ca := siteServer(t, false)
	help, _ := exec.Command(curl, "--help", "all").Output()
	hasSigalgs := bytes.Contains(help, []byte("--sigalgs"))
	if !hasSigalgs {
		t.Logf("%s has no --sigalgs: the scheme is curl's (OpenSSL's default) choice, checked to be one the key allows; openssl pins each", curl)
	}
	var runs []*clientRun
	for _, st := range s.sites.all {
		host, stem := siteName(st)
		pub := st.key.Public()
		for _, v := range versions {
			var ok []tls.SignatureScheme
			for _, c := range candidates(pub) {
				if allowed(v.v, pub, st.cert.SupportedSignatureAlgorithms, c.scheme) {
					ok = append(ok, c.scheme)
				}
			}
			pins := []tls.SignatureScheme{0}
			if hasSigalgs {
				pins = ok
			}
			for _, pin := range pins {
				args := append([]string{"-sS", "--max-time", "20", "--cacert", ca, "--resolve", host + ":" + port + ":127.0.0.1"}, v.curl...)
				name := stem + "/" + v.name
				if pin != 0 {
					args = append(args, "--sigalgs", schemeNames[pin])
					name += "/" + schemeNames[pin]
				}
				runs = append(runs, &clientRun{
					name: name,
					args: append(args, "https://"+host+":"+port+"/"),
					check: func(t *testing.T, r *clientRun) {
						if r.err != nil {
							t.Fatalf("curl %s: %v\nstderr:\n%s", strings.Join(r.args, " "), r.err, r.stderr)
						}
						checkSite(t, r.stdout, stem)
						if want := "TLS: " + tls.VersionName(v.v) + ","; !strings.Contains(r.stdout, want) {
							t.Errorf("body does not say %q:\n%s", want, r.stdout)
						}
						if pin != 0 {
							checkBody(t, r.stdout, pin)
							return
						}
						for _, scheme := range ok {
							if strings.Contains(r.stdout, "Handshake signature: "+schemeName(scheme)+"\n") {
								checkBody(t, r.stdout, scheme)
								return
							}
						}
						t.Errorf("body names none of the schemes %s allows at %s (%v):\n%s", stem, v.name, ok, r.stdout)
					},
				})
			}
		}
	}
	if len(runs) == 0 {
		t.Fatal("no site to fetch")
	}
	runAll(t, curl, runs)
}
