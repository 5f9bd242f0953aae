//go:build linux

package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-e1024768/async/remote"
)

// getAs fetches https://addr/ as a client of dir's CAs that says the
// server name name ("" or an IP address: none); insecure skips verifying
// the chain, for a name the certificate served does not have.
func getAs(t *testing.T, dir, addr, name string, insecure bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := clientTLS(t, dir)
	cfg.ServerName = name
	cfg.InsecureSkipVerify = insecure
	body, err := get(ctx, cfg, addr)
	if err != nil {
		t.Fatalf("GET as %q: %v", name, err)
	}
	return body
}

// TestSitesBySNI (item 3 of "keyless for real sites": one front end, many
// sites): run with no -alg, the server serves every certificate of
// DIR/certs, each to the clients that ask for one of its names (in any
// case, or under its wildcard); the default, certs/ecdsap256.pem, to
// clients with no server name, with "localhost" (which every certificate
// asyncsignd init writes carries) or with a name no certificate has.
func TestSitesBySNI(t *testing.T) {
	dir := privateDeployment(t)
	issueSite(t, dir, "wild", sitePub(t, dir, "ed25519"), "*.wild.localhost")
	_, signerAddr := startSignerInProcess(t, dir, 0)
	_, addr, _ := startServerInProcess(t, config{dir: serverCopy(t, dir), signers: []string{signerAddr}, signTimeout: 10 * time.Second})

	for _, c := range []struct {
		name, site string
		insecure   bool
	}{
		{"127.0.0.1", defaultSite, false}, // no SNI
		{"localhost", defaultSite, false},
		{"a.wild.localhost", "wild", false},
		{"B.Wild.LOCALHOST", "wild", false},
		{"wild.localhost", defaultSite, true},     // a wildcard covers one label, not none
		{"a.b.wild.localhost", defaultSite, true}, // nor two
		{"nobody.example", defaultSite, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkSite(t, getAs(t, dir, addr, c.name, c.insecure), c.site)
		})
	}
	for _, name := range siteNames(t, dir) {
		if name == "wild" {
			continue
		}
		t.Run(name+".localhost", func(t *testing.T) {
			body := getAs(t, dir, addr, name+".localhost", false)
			checkSite(t, body, name)
			checkBody(t, body, goClientScheme(sitePub(t, dir, name), tls.VersionTLS13))
		})
	}
}

// localSites issues certificates into dir/certs, one per spec (its file
// stem, its key, its names), and loads them as the server does, with the
// keys in process; the default is def.
func localSites(t *testing.T, dir string, def string, specs ...siteSpec) *sites {
	t.Helper()
	keys := make(map[string]crypto.Signer)
	for _, s := range specs {
		issueSite(t, dir, s.file, s.key.Public(), s.names...)
		id, err := keyIDOf(s.key.Public())
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = s.key
	}
	chains, err := readChains(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(_ context.Context, id string) (key, error) { return localKey{keys[id]}, nil }
	st, err := loadSites(context.Background(), chains, lookup, def, false, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

type siteSpec struct {
	file  string
	key   crypto.Signer
	names []string
}

// TestPickByClientSupport (item 3): of several certificates for one name,
// a client gets the first it can use, as a site with an ECDSA and an RSA
// certificate must serve both kinds of clients; one that can use none
// gets the first, whose handshake fails saying why.
func TestPickByClientSupport(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := mkdirCerts(dir); err != nil {
		t.Fatal(err)
	}
	st := localSites(t, dir, "a-ecdsa",
		siteSpec{"a-ecdsa", ec, []string{"dual.test"}},
		siteSpec{"b-rsa", rk, []string{"dual.test", "rsa.test"}},
	)
	for _, c := range []struct {
		schemes []tls.SignatureScheme
		want    string
	}{
		{[]tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.PSSWithSHA256}, "certs/a-ecdsa.pem"},
		{[]tls.SignatureScheme{tls.PSSWithSHA256, tls.ECDSAWithP256AndSHA256}, "certs/a-ecdsa.pem"}, // both usable: the first certificate
		{[]tls.SignatureScheme{tls.PSSWithSHA384}, "certs/b-rsa.pem"},
		{[]tls.SignatureScheme{tls.Ed25519}, "certs/a-ecdsa.pem"}, // none usable
	} {
		hello := &tls.ClientHelloInfo{
			ServerName:        "dual.test",
			SupportedVersions: []uint16{tls.VersionTLS13},
			CipherSuites:      []uint16{tls.TLS_AES_128_GCM_SHA256},
			SupportedCurves:   []tls.CurveID{tls.X25519, tls.CurveP256},
			SignatureSchemes:  c.schemes,
		}
		if got := st.pick(hello).file; got != c.want {
			t.Errorf("client offering %v: got %s, want %s", c.schemes, got, c.want)
		}
	}
	if got := st.pick(&tls.ClientHelloInfo{ServerName: "rsa.test"}).file; got != "certs/b-rsa.pem" {
		t.Errorf("rsa.test: got %s", got)
	}
}

// TestMissingKey (item 3): a certificate whose key no signer holds stops
// the server at start, with an error (exit status 1, not the usage's 2)
// that names its file; with -skip-missing the server logs that it skips
// it, and serves the others.
func TestMissingKey(t *testing.T) {
	dir := privateDeployment(t)
	stray, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issueSite(t, dir, "stray", stray.Public(), "stray.localhost")
	_, signerAddr := startSignerInProcess(t, dir, 0)
	srvDir := serverCopy(t, dir)

	t.Run("refused", func(t *testing.T) {
		err := run(context.Background(), []string{"-dir", srvDir, "-signer", signerAddr, "-listen", "127.0.0.1:0"}, io.Discard, io.Discard)
		if !errors.Is(err, errNoKey) || !errors.Is(err, remote.ErrUnknownKey) || isUsage(err) || !strings.Contains(err.Error(), "certs/stray.pem") {
			t.Errorf("run = %v, want an error naming certs/stray.pem, wrapping errNoKey and remote.ErrUnknownKey", err)
		}
	})
	t.Run("binary-exits-1", func(t *testing.T) {
		_, keylessBin := binaries(t)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, keylessBin, "-dir", srvDir, "-signer", signerAddr, "-listen", "127.0.0.1:0")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("exit: %v, want status 1; output:\n%s", err, out)
		}
		if !strings.Contains(string(out), "certs/stray.pem") || strings.Contains(string(out), "listening on") {
			t.Errorf("output does not name certs/stray.pem, or says it listens:\n%s", out)
		}
		t.Logf("exit status 1, saying: %s", out)
	})
	t.Run("skip-missing", func(t *testing.T) {
		_, addr, logs := startServerInProcess(t, config{dir: srvDir, signers: []string{signerAddr}, skipMissing: true, signTimeout: 10 * time.Second})
		if want := "skipping certs/stray.pem"; !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %q:\n%s", want, logs)
		}
		t.Logf("log: %s", logs)
		checkSite(t, getAs(t, dir, addr, "ed25519.localhost", false), "ed25519")
		checkSite(t, getAs(t, dir, addr, "stray.localhost", true), defaultSite)
	})
}

// TestThousandSites (item 3): 1,000 certificates, over four keys, one
// front end. The server starts with one public-key lookup per distinct key
// (not per certificate), and serves each certificate by its name and its
// wildcard. The start-up time and the heap it holds after are logged.
func TestThousandSites(t *testing.T) {
	const n = 1000
	dir := privateDeployment(t)
	extra, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	writeKey(t, dir, "extra", extra)
	pubs := []crypto.PublicKey{sitePub(t, dir, "ecdsap256"), sitePub(t, dir, "ed25519"), sitePub(t, dir, "rsa2048"), extra.Public()}
	_, signerAddr := startSignerInProcess(t, dir, 0)
	srvDir := serverCopy(t, dir)
	issueStart := time.Now()
	for i := range n {
		names := []string{fmt.Sprintf("site%04d.many.localhost", i)}
		if i%10 == 0 {
			names = append(names, fmt.Sprintf("*.w%04d.many.localhost", i))
		}
		issueSite(t, srvDir, fmt.Sprintf("site%04d", i), pubs[i%len(pubs)], names...)
	}
	t.Logf("issued %d certificates in %v", n, time.Since(issueStart))
	total := len(siteNames(t, srvDir))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	s, addr, _ := startServerInProcess(t, config{dir: srvDir, signers: []string{signerAddr}, signTimeout: 10 * time.Second})
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := len(s.sites.all); got != total {
		t.Fatalf("serving %d sites, want %d", got, total)
	}
	t.Logf("%d certificates, %d keys besides init's: start-up %v; heap after start %.1f MiB, %.1f MiB more than before (GOMAXPROCS %d)",
		total, len(pubs), took, float64(after.HeapAlloc)/(1<<20), (float64(after.HeapAlloc)-float64(before.HeapAlloc))/(1<<20), runtime.GOMAXPROCS(0))

	// One lookup per distinct key.
	readStart := time.Now()
	chains, err := readChains(srvDir, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("of which reading and parsing the certificates takes about %v", time.Since(readStart))
	var lookups atomic.Int32
	count := func(ctx context.Context, id string) (key, error) {
		lookups.Add(1)
		return s.sites.def.key, nil // any key: only the count matters
	}
	if _, err := loadSites(context.Background(), chains, count, defaultSite, false, log.New(io.Discard, "", 0)); err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for _, c := range chains {
		distinct[c.keyID] = true
	}
	if got := lookups.Load(); got != int32(len(distinct)) {
		t.Errorf("%d public-key lookups for %d certificates of %d keys, want one per key", got, total, len(distinct))
	}

	for i := 3; i < n; i += 97 {
		checkSite(t, getAs(t, srvDir, addr, fmt.Sprintf("site%04d.many.localhost", i), false), fmt.Sprintf("site%04d", i))
	}
	for i := 0; i < n; i += 330 {
		checkSite(t, getAs(t, srvDir, addr, fmt.Sprintf("x.w%04d.many.localhost", i), false), fmt.Sprintf("site%04d", i))
	}
}

// TestOfferedSchemes (item 3): a certificate offers the schemes its key
// makes through the signer's client, no more: those whose options the key
// refuses (as remote.Signer refuses a hash it cannot send) are left out,
// and asking costs no signature when the key heeds its context.
func TestOfferedSchemes(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if got, want := fmt.Sprint(offeredSchemes(localKey{ec})), fmt.Sprint([]tls.SignatureScheme{tls.ECDSAWithP256AndSHA256, tls.ECDSAWithP384AndSHA384, tls.ECDSAWithP521AndSHA512}); got != want {
		t.Errorf("an ECDSA key in process offers %s, want %s", got, want)
	}
	k := &pickyKey{pub: ec.Public(), accept: crypto.SHA384}
	if got := offeredSchemes(k); len(got) != 1 || got[0] != tls.ECDSAWithP384AndSHA384 {
		t.Errorf("a key that signs only SHA-384 offers %v", got)
	}
	if k.signed.Load() != 0 {
		t.Errorf("asking cost %d signatures", k.signed.Load())
	}
}

// pickyKey is a remote key in the way it answers: it refuses any hash but
// accept, checks the context after the options, and signs nothing.
type pickyKey struct {
	pub    crypto.PublicKey
	accept crypto.Hash
	signed atomic.Int32
}

func (k *pickyKey) Public() crypto.PublicKey { return k.pub }

func (k *pickyKey) WithContext(ctx context.Context) crypto.Signer {
	return pickySigner{k, ctx}
}

type pickySigner struct {
	k   *pickyKey
	ctx context.Context
}

func (s pickySigner) Public() crypto.PublicKey { return s.k.pub }

func (s pickySigner) Sign(_ io.Reader, _ []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts.HashFunc() != s.k.accept {
		return nil, remote.ErrUnsupported
	}
	if err := s.ctx.Err(); err != nil {
		return nil, err
	}
	s.k.signed.Add(1)
	return nil, errors.New("not a real key")
}

func mkdirCerts(dir string) error { return os.Mkdir(filepath.Join(dir, "certs"), 0o755) }

func keyIDOf(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return remote.KeyID(der), nil
}
