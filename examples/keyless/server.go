//go:build linux

package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/seed-e1024768/async/remote"
	"github.com/seed-e1024768/async/signer"
)

// algs are the key types -alg accepts, each the stem of DIR/certs/<alg>.pem.
var algs = []string{"ecdsap256", "ecdsap384", "ecdsap521", "ed25519", "rsa2048", "rsa3072", "rsa4096"}

// config is what the server is built from: the flags of the command.
type config struct {
	dir         string        // the deployment: certs/<alg>.pem, and the client identity for the signers
	signers     []string      // the signers' addresses
	alg         string        // which of algs to serve with
	signTimeout time.Duration // bounds each handshake's signature; 0: defaultSignTimeout
	errorLog    *log.Logger   // handshake failures and their causes; nil: the log package's logger
}

// defaultSignTimeout bounds a handshake's signature when -sign-timeout is
// not given: long enough for a loaded signer, short enough that a client
// hears of a dead one before it gives up itself.
const defaultSignTimeout = 3 * time.Second

// key is a private key the server signs handshakes with, made to sign
// under each handshake's context. *remote.Signer is one.
type key interface {
	Public() crypto.PublicKey
	WithContext(ctx context.Context) crypto.Signer
}

// server is the HTTPS server: net/http over crypto/tls, with a certificate
// whose private key is a key that is (in the command, always) remote.
type server struct {
	http   *http.Server
	cert   tls.Certificate // the leaf chain, and no private key: each handshake gets its own signer
	key    key
	where  string // where the key is, for the responses: "remote, held by the signer at ..."
	engine *remote.Engine
}

// newServer reads cfg.dir's certificate for cfg.alg and the client identity
// the signers know, connects to the signers, and returns a server that
// signs its handshakes with the signers' copy of the certificate's key. It
// reads DIR/certs/<alg>.pem, DIR/signer-ca.pem, DIR/client.pem and
// DIR/client-key.pem, and nothing else: in particular not DIR/keys.
func newServer(cfg config) (*server, error) {
	if !slices.Contains(algs, cfg.alg) {
		return nil, fmt.Errorf("unknown key type %q (want one of %q)", cfg.alg, algs)
	}
	cert, err := readChain(filepath.Join(cfg.dir, "certs", cfg.alg+".pem"))
	if err != nil {
		return nil, err
	}
	clientTLS, err := signer.ClientTLS(cfg.dir)
	if err != nil {
		return nil, fmt.Errorf("the identity to show the signers: %w", err)
	}
	signTimeout := cfg.signTimeout
	if signTimeout <= 0 {
		signTimeout = defaultSignTimeout
	}
	// The engine's timeout bounds each signature, as the handshake's
	// context has no deadline: when it passes, the engine says why (no
	// signer reachable, and the last error from them).
	e, err := remote.New(remote.Config{Addrs: cfg.signers, TLS: clientTLS, Timeout: signTimeout})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	keyID := remote.KeyID(cert.Leaf.RawSubjectPublicKeyInfo)
	signer, err := e.Signer(ctx, keyID)
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("the key of certs/%s.pem (key ID %s) from the signers: %w", cfg.alg, keyID, err)
	}
	where := "remote, held by the signer at " + cfg.signers[0] + "; it never left the signer, and this server never had it"
	if len(cfg.signers) > 1 {
		where = "remote, held by the signers at " + strings.Join(cfg.signers, ", ") + "; it never left them, and this server never had it"
	}
	s := newServerWithKey(cert, signer, where, cfg.errorLog)
	s.engine = e
	return s, nil
}

// startTimeout bounds the wait for the signers at start-up: the server
// needs one of them to confirm it holds the certificate's key.
const startTimeout = 10 * time.Second

// newServerWithKey returns a server for the chain cert that signs with k;
// where says where k is, for the responses. It is newServer without the
// signers, for a key held anywhere (the benchmark's key in process).
func newServerWithKey(cert tls.Certificate, k key, where string, errorLog *log.Logger) *server {
	if errorLog == nil {
		errorLog = log.Default()
	}
	cert.PrivateKey = nil
	cert.SupportedSignatureAlgorithms = signatureSchemes(k.Public())
	s := &server{cert: cert, key: k, where: where}
	s.http = &http.Server{
		Handler: http.HandlerFunc(s.hello),
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: s.certificate,
		},
		ConnContext: withConn,
		// Bounds the handshake too: net/http sets the conn's deadlines
		// from it before the handshake.
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          errorLog,
	}
	return s
}

// signatureSchemes are the TLS signature schemes the signer can make with
// a key like pub (none for a key it cannot use: every handshake fails,
// saying why).
func signatureSchemes(pub crypto.PublicKey) []tls.SignatureScheme {
	return remote.SignatureSchemes(pub)
}

// serve serves HTTPS on lis until close; it returns http.ErrServerClosed
// after close, and lis's error otherwise.
func (s *server) serve(lis net.Listener) error {
	return s.http.ServeTLS(trackConns(lis), "", "")
}

// close stops the server at once, and the engine after it.
func (s *server) close() error {
	err := s.http.Close()
	if s.engine != nil {
		err = errors.Join(err, s.engine.Close())
	}
	return err
}

// shutdown stops the server gracefully: it stops accepting, waits for the
// requests in flight (or ctx), then closes the engine.
func (s *server) shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.http.Close())
	}
	if s.engine != nil {
		err = errors.Join(err, s.engine.Close())
	}
	return err
}

// readChain reads a PEM certificate chain, leaf first, with no private
// key.
func readChain(path string) (tls.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return tls.Certificate{}, err
	}
	var cert tls.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			cert.Certificate = append(cert.Certificate, b.Bytes)
		}
	}
	if len(cert.Certificate) == 0 {
		return tls.Certificate{}, fmt.Errorf("%s: no certificate", path)
	}
	if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
		return tls.Certificate{}, fmt.Errorf("%s: %w", path, err)
	}
	return cert, nil
}
