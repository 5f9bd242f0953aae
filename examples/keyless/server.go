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
	"strings"
	"time"

	"github.com/seed-e1024768/async/remote"
	"github.com/seed-e1024768/async/signer"
)

// defaultSite is the certificate, by file stem, for clients that send no
// server name (or "localhost", which every certificate asyncsignd init
// writes carries) when the server serves every certificate.
const defaultSite = "ecdsap256"

// config is what the server is built from: the flags of the command.
type config struct {
	dir         string        // the deployment: certs/*.pem, and the client identity for the signers
	signers     []string      // the signers' addresses
	alg         string        // serve only certs/<alg>.pem; "": every certificate, by SNI
	skipMissing bool          // skip, rather than refuse, a certificate whose key no signer can sign with
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

// server is the HTTPS server: net/http over crypto/tls, with certificates
// whose private keys are keys that are (in the command, always) remote.
type server struct {
	http   *http.Server
	sites  *sites
	where  string // where the keys are, for the responses: "remote, held by the signer at ..."
	engine *remote.Engine
}

// newServer reads cfg.dir's certificates (every DIR/certs/*.pem, or with
// cfg.alg only DIR/certs/<alg>.pem) and the client identity the signers
// know, connects to the signers, asks them for each distinct key of the
// certificates, and returns a server that signs its handshakes with the
// signers' copies of the keys. It reads DIR/certs, DIR/signer-ca.pem,
// DIR/client.pem and DIR/client-key.pem, and nothing else: in particular
// not DIR/keys. A certificate whose key no signer can sign with is an
// error wrapping errNoKey that names its file, or with cfg.skipMissing is
// skipped, and logged.
func newServer(cfg config) (*server, error) {
	if err := checkSiteName(cfg.alg); cfg.alg != "" && err != nil {
		return nil, err
	}
	chains, err := readChains(cfg.dir, cfg.alg)
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
	lookup := func(ctx context.Context, keyID string) (key, error) {
		s, err := e.Signer(ctx, keyID)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	errorLog := cfg.errorLog
	if errorLog == nil {
		errorLog = log.Default()
	}
	def := defaultSite
	if cfg.alg != "" {
		def = cfg.alg
	}
	st, err := loadSites(ctx, chains, lookup, def, cfg.skipMissing, errorLog)
	if err != nil {
		e.Close()
		return nil, err
	}
	where := "remote, held by the signer at " + cfg.signers[0] + "; it never left the signer, and this server never had it"
	if len(cfg.signers) > 1 {
		where = "remote, held by the signers at " + strings.Join(cfg.signers, ", ") + "; it never left them, and this server never had it"
	}
	s := newServerWithSites(st, where, errorLog)
	s.engine = e
	return s, nil
}

// checkSiteName accepts a certificate's file stem: a plain file name.
func checkSiteName(name string) error {
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("%q is not the stem of a file in DIR/certs", name)
	}
	return nil
}

// startTimeout bounds the wait for the signers at start-up: the server
// needs them to confirm they hold the certificates' keys.
const startTimeout = 10 * time.Second

// newServerWithSites returns a server for st; where says where the keys
// are, for the responses. It is newServer without the signers, for keys
// held anywhere (the benchmark's keys in process).
func newServerWithSites(st *sites, where string, errorLog *log.Logger) *server {
	if errorLog == nil {
		errorLog = log.Default()
	}
	s := &server{sites: st, where: where}
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
