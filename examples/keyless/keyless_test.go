//go:build linux

package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/signpb"
	"github.com/seed-e1024768/async/internal/signtest"
	"github.com/seed-e1024768/async/signer"
)

// TestServesWithRemoteKey serves with each key type, in process, and
// checks with crypto/tls clients that each handshake is signed by the
// remote key with the scheme the key type calls for.
func TestServesWithRemoteKey(t *testing.T) {
	dir := deployment(t)
	_, signerAddr := startSignerInProcess(t, dir, 0)
	srvDir := serverCopy(t, dir)
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			_, addr, _ := startServerInProcess(t, config{dir: srvDir, signers: []string{signerAddr}, alg: alg, signTimeout: 5 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
				cfg := clientTLS(t, dir)
				cfg.MinVersion, cfg.MaxVersion = v, v
				body, err := get(ctx, cfg, addr)
				if err != nil {
					t.Fatalf("%s: %v", tls.VersionName(v), err)
				}
				want := wantScheme[alg]
				if v == tls.VersionTLS12 && strings.HasPrefix(alg, "ecdsa") {
					// TLS 1.2 pairs any curve with any hash: the
					// client's first choice, SHA-256, is taken.
					want = tls.ECDSAWithP256AndSHA256
				}
				checkBody(t, body, want)
				if want := "TLS: " + tls.VersionName(v) + ","; !strings.Contains(body, want) {
					t.Errorf("body does not say %q:\n%s", want, body)
				}
			}
		})
	}
}

// TestSchemeOf checks the scheme noted for each kind of Sign call
// crypto/tls makes, PKCS #1 v1.5 included (which a Go client never asks
// for: the openssl test does).
func TestSchemeOf(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	rsaPub := &rsa.PublicKey{} // schemeOf looks only at the type
	for _, c := range []struct {
		pub  crypto.PublicKey
		opts crypto.SignerOpts
		want tls.SignatureScheme
	}{
		{ec.Public(), crypto.SHA256, tls.ECDSAWithP256AndSHA256},
		{ec.Public(), crypto.SHA384, tls.ECDSAWithP384AndSHA384},
		{ec.Public(), crypto.SHA1, 0},
		{ed, crypto.Hash(0), tls.Ed25519},
		{ed, &ed25519.Options{}, tls.Ed25519},
		{ed, crypto.SHA256, 0},
		{rsaPub, crypto.SHA256, tls.PKCS1WithSHA256},
		{rsaPub, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}, tls.PSSWithSHA256},
		{rsaPub, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA512}, tls.PSSWithSHA512},
		{rsaPub, crypto.SHA384, tls.PKCS1WithSHA384},
		{rsaPub, crypto.SHA1, 0},
		{rsaPub, nil, 0},
	} {
		if got := schemeOf(c.pub, c.opts); got != c.want {
			t.Errorf("schemeOf(%T, %#v) = %v, want %v", c.pub, c.opts, got, c.want)
		}
	}
}

// TestHangupCancelsSignature: a client that hangs up while its handshake
// waits for the signer gets its signature canceled on the signer, which
// counts it; the request is not signed, and the server says why it gave
// up. The client hangs up in three ways: it closes the conn (a FIN), shuts
// down only its side (a FIN, and the client still reads), or resets the
// conn (an RST). The FIN arrives behind the ChangeCipherSpec the client
// sent after the ServerHello, which the server has not read.
func TestHangupCancelsSignature(t *testing.T) {
	for _, c := range []struct {
		name   string
		hangUp func(*net.TCPConn) error
	}{
		{"close", (*net.TCPConn).Close},
		{"close-write", (*net.TCPConn).CloseWrite},
		{"reset", func(c *net.TCPConn) error {
			if err := c.SetLinger(0); err != nil {
				return err
			}
			return c.Close()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := deployment(t)
			const delay = time.Second // every signature waits this long on the signer
			signer, signerAddr := startSignerInProcess(t, dir, delay)
			_, addr, logs := startServerInProcess(t, config{dir: serverCopy(t, dir), signers: []string{signerAddr}, alg: "ecdsap256", signTimeout: 10 * time.Second})
			before := signer.Stats()

			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			handshook := make(chan error, 1)
			go func() { handshook <- tls.Client(conn, clientTLS(t, dir)).Handshake() }()
			waitReceived(t, signer, before) // hang up while the signature waits on the signer
			if err := c.hangUp(conn.(*net.TCPConn)); err != nil {
				t.Fatal(err)
			}
			if err := <-handshook; err == nil {
				t.Fatal("handshake succeeded after the client hung up")
			}

			// The cancellation must reach the signer before the
			// signature's delay is over.
			deadline := time.Now().Add(delay)
			for signer.Stats().GetCanceled() == before.GetCanceled() {
				if time.Now().After(deadline) {
					t.Fatalf("the signer counted no cancellation %v after the client hung up: %v", delay, signer.Stats())
				}
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(delay) // long enough for the request to have been signed, had it not been canceled
			after := signer.Stats()
			if after.GetSigned() != before.GetSigned() {
				t.Errorf("the signer signed %d requests for a client that had hung up", after.GetSigned()-before.GetSigned())
			}
			waitLog(t, logs, errHungUp.Error())
		})
	}
}

// waitReceived waits (at most 10s) for the signer to receive a request
// more than it had by before.
func waitReceived(t *testing.T, signer *signer.Server, before *signpb.StatsResponse) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for signer.Stats().GetReceived() == before.GetReceived() {
		if time.Now().After(deadline) {
			t.Fatalf("the signer received no request in 10s: %v", signer.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLog waits (at most 5s) for the server's log to contain want.
func waitLog(t *testing.T, logs *signtest.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the server's log does not say %q:\n%s", want, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCloseEndsSignatures: closing the server ends the handshakes that
// wait for a slow signer at once, rather than after the signer's delay.
func TestCloseEndsSignatures(t *testing.T) {
	dir := deployment(t)
	const delay = 5 * time.Second
	signer, signerAddr := startSignerInProcess(t, dir, delay)
	s, addr, logs := startServerInProcess(t, config{dir: serverCopy(t, dir), signers: []string{signerAddr}, alg: "ed25519", signTimeout: 10 * time.Second})
	before := signer.Stats()

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	handshook := make(chan error, 1)
	go func() { handshook <- tls.Client(conn, clientTLS(t, dir)).Handshake() }()
	waitReceived(t, signer, before) // close while the signature waits on the signer
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if err := <-handshook; err == nil {
		t.Fatal("handshake succeeded")
	}
	// The client hears of the close at once, whatever the server does:
	// the server's own handshake must end too, and log why.
	start := time.Now()
	deadline := start.Add(delay / 2)
	for !strings.Contains(logs.String(), "failed to sign handshake") {
		if time.Now().After(deadline) {
			t.Fatalf("the server's handshake still waits for its signature %v after close; log:\n%s", delay/2, logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("the server's handshake ended within %v of close: %s", time.Since(start), logs)
}

// TestFlags checks the command's answers to bad arguments.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-dir", "d", "-listen", "127.0.0.1:0"},
		{"-dir", "d", "-signer", " , ", "-listen", "127.0.0.1:0"},
		{"-dir", "d", "-signer", "a:1", "-listen", "127.0.0.1:0", "-alg", "rsa1024"},
		{"-dir", "d", "-signer", "a:1", "-listen", "127.0.0.1:0", "-sign-timeout", "0s"},
		{"-dir", "d", "-signer", "a:1", "-listen", "127.0.0.1:0", "extra"},
		{"-nosuchflag"},
	} {
		var stdout, stderr strings.Builder
		err := run(context.Background(), args, &stdout, &stderr)
		if !isUsage(err) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
		if stdout.Len() != 0 {
			t.Errorf("run(%q) wrote %q on stdout", args, stdout.String())
		}
		if stderr.Len() == 0 {
			t.Errorf("run(%q) said nothing on stderr", args)
		}
	}
	// A deployment without the certificate: not a usage error, and it
	// says which file.
	var stderr strings.Builder
	err := run(context.Background(), []string{"-dir", t.TempDir(), "-signer", "127.0.0.1:1", "-listen", "127.0.0.1:0"}, new(strings.Builder), &stderr)
	if err == nil || isUsage(err) || !strings.Contains(err.Error(), "ecdsap256.pem") {
		t.Errorf("run with an empty -dir = %v, want an error naming certs/ecdsap256.pem", err)
	}
}

func isUsage(err error) bool { return errors.Is(err, errUsage) }

// TestTwoSigners: with -signer naming two signers, the server keeps
// serving when one of them stops.
func TestTwoSigners(t *testing.T) {
	dir := deployment(t)
	first, addr1 := startSignerInProcess(t, dir, 0)
	_, addr2 := startSignerInProcess(t, dir, 0)
	_, addr, logs := startServerInProcess(t, config{dir: serverCopy(t, dir), signers: []string{addr1, addr2}, alg: "ed25519", signTimeout: 5 * time.Second})
	cfg := clientTLS(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 3 {
		body, err := get(ctx, cfg, addr)
		if err != nil {
			t.Fatalf("get %d with both signers up: %v", i, err)
		}
		checkBody(t, body, tls.Ed25519)
		if want := "held by the signers at " + addr1 + ", " + addr2; !strings.Contains(body, want) {
			t.Errorf("body does not say %q:\n%s", want, body)
		}
	}
	first.Stop(time.Second)
	for i := range 5 {
		body, err := get(ctx, cfg, addr)
		if err != nil {
			t.Fatalf("get %d with one signer stopped: %v\nserver log:\n%s", i, err, logs)
		}
		checkBody(t, body, tls.Ed25519)
	}
}

// TestResumedSession: a resumed session has no handshake signature, and
// the response says so rather than naming one.
func TestResumedSession(t *testing.T) {
	dir := deployment(t)
	signer, signerAddr := startSignerInProcess(t, dir, 0)
	_, addr, _ := startServerInProcess(t, config{dir: serverCopy(t, dir), signers: []string{signerAddr}, alg: "ecdsap256"})
	cfg := clientTLS(t, dir)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	body, err := get(ctx, cfg, addr)
	if err != nil {
		t.Fatal(err)
	}
	checkBody(t, body, tls.ECDSAWithP256AndSHA256)
	signed := signer.Stats().GetSigned()
	body, err = get(ctx, cfg, addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "Handshake signature: none, the session was resumed\n") {
		t.Errorf("second connection, resumed, says:\n%s", body)
	}
	if n := signer.Stats().GetSigned() - signed; n != 0 {
		t.Errorf("the resumed session cost %d signatures", n)
	}
}
