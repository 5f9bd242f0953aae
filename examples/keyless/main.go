//go:build linux

// Command keyless is an HTTPS server whose private keys never leave their
// signers: it serves the certificates of a deployment directory, many
// sites from one front end, and every handshake is signed by a remote
// signer (cmd/asyncsignd) through the engine of package remote.
//
// Usage:
//
//	keyless -dir DIR -signer ADDR[,ADDR...] -listen ADDR [-alg NAME] [-skip-missing] [-sign-timeout D]
//
// DIR is a deployment written by `asyncsignd init DIR`. The server reads
// DIR/certs/*.pem (the chains it serves, issued by the site CA, DIR/ca.pem,
// which its clients trust), and DIR/signer-ca.pem, DIR/client.pem and
// DIR/client-key.pem (the identity it shows the signers, and the only CA
// it takes a signer's certificate from: a front end's or a client's
// certificate is no signer's). It never opens DIR/keys: it may be given a
// copy of DIR without it. Each ADDR of -signer is a host:port, or a gRPC
// target such as dns:///signers.internal:7443, one signer per address the
// name resolves to. Its first line on standard output is
//
//	listening on HOST:PORT
//
// so that -listen 127.0.0.1:0 can be used. Every response says which
// certificate the connection was served, which signature scheme its
// handshake was signed with, and that the key was remote.
//
// # Many sites
//
// The server serves every certificate of DIR/certs, each to the clients
// whose server name (SNI) is one of its DNS names, in any case, or falls
// under one of its wildcards ("*.example.com" covers "www.example.com").
// Clients with no server name, or a name no certificate has, get the
// default certificate, DIR/certs/ecdsap256.pem (or the first by file name
// if there is none). Of several certificates with one name, a client gets
// the first it can use, the default first: every certificate asyncsignd
// init writes names "localhost", so a client that asks for localhost gets
// ecdsap256's, as it did before the server served more than one, unless
// it cannot verify ECDSA. -alg NAME serves DIR/certs/NAME.pem alone.
//
// At start the server asks the signers for the key of each certificate,
// once per distinct key and 16 at a time, so that a thousand certificates
// over a few keys start in a fraction of a second. A certificate whose key
// no signer holds, or whose key the signer's client cannot sign with, is
// named and the server exits 1; with -skip-missing it is skipped, and the
// log says so. If no signer answers within 10s, the server exits 1.
//
// Each certificate offers exactly the signature schemes its key makes
// through the signer: the server asks the key (a remote.Signer) which of
// the schemes TLS has for its type it accepts. For ECDSA that list holds
// all three ECDSA schemes, whatever the curve: in TLS 1.2 a scheme names
// only its hash, and any ECDSA key may sign with any of them, while in
// TLS 1.3 crypto/tls itself keeps the key's curve's own scheme alone.
// Likewise RSA's PKCS #1 v1.5 schemes are offered, and crypto/tls uses
// them in TLS 1.2 only. A client that offers none of a certificate's
// schemes gets a handshake_failure alert; the server keeps serving.
//
// # How a handshake is signed
//
// The tls.Config's GetCertificate gives each handshake a crypto.Signer of
// its own, made with remote.Signer.WithContext from the handshake's
// context (ClientHelloInfo.Context): when that context ends, the engine
// tells the signer to drop the request. The signer notes on the conn the
// scheme crypto/tls asked it for (the key's type and the SignerOpts tell),
// which is how the response can name it.
//
// crypto/tls ends the handshake's context only when the handshake returns
// (or when net/http's context for the conn ends, which is later), and the
// handshake cannot return while it waits for its signature. Three things
// end the wait sooner:
//
//   - Closing the server closes the engine, which ends every request in
//     flight.
//   - A client that hangs up: crypto/tls does not read the conn while it
//     waits, so the server watches the socket itself (poll(2) for
//     POLLRDHUP, every 10ms while a signature is out) and cancels the
//     signature's context.
//   - -sign-timeout (default 3s): a signer that is down, or too slow,
//     fails the handshake with a TLS alert in that time, and the server
//     logs why on standard error. The next handshakes succeed as soon as a
//     signer is back: the engine reconnects by itself.
//
// On SIGINT or SIGTERM the server stops accepting, finishes the requests
// in flight (for at most 10s) and exits 0. Bad arguments: a message and
// the usage on standard error, exit status 2. Any other failure: a
// message on standard error, exit status 1.
//
// This command is Linux-only, as package remote is (and for POLLRDHUP).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: keyless -dir DIR -signer ADDR[,ADDR...] -listen ADDR [-alg NAME] [-skip-missing] [-sign-timeout D]
`

// errUsage marks bad arguments: exit status 2.
var errUsage = errors.New("bad arguments")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "keyless:", err)
		os.Exit(1)
	}
}

// shutdownGrace bounds the wait for requests in flight when the server is
// told to stop.
const shutdownGrace = 10 * time.Second

// run is the command: it serves until ctx is done, then shuts down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, listen, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg.errorLog = log.New(stderr, "keyless: ", log.LstdFlags)
	s, err := newServer(cfg)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return errors.Join(err, s.close())
	}
	fmt.Fprintf(stdout, "listening on %s\n", lis.Addr())
	served := make(chan error, 1)
	go func() { served <- s.serve(lis) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		err = s.shutdown(sctx)
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	case err := <-served:
		return errors.Join(err, s.close())
	}
}

// parseFlags parses the command's arguments into a config and the
// address to listen on; its error wraps errUsage.
func parseFlags(args []string, stderr io.Writer) (config, string, error) {
	fs := flag.NewFlagSet("keyless", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.StringVar(&cfg.dir, "dir", "", "deployment `directory` (see asyncsignd init); DIR/keys is never read")
	signers := fs.String("signer", "", "the signers' `addresses`, comma-separated: host:port, or gRPC targets such as dns:///NAME:PORT (every address NAME resolves to)")
	listen := fs.String("listen", "", "`address` to listen on, e.g. 127.0.0.1:0")
	fs.StringVar(&cfg.alg, "alg", "", "serve only DIR/certs/`NAME`.pem (default: every DIR/certs/*.pem, chosen by SNI)")
	fs.BoolVar(&cfg.skipMissing, "skip-missing", false, "skip, with a log line, a certificate whose key no signer holds (default: exit 1)")
	fs.DurationVar(&cfg.signTimeout, "sign-timeout", defaultSignTimeout, "how long a handshake waits for its signature")
	if err := fs.Parse(args); err != nil {
		return config{}, "", fmt.Errorf("%w: %w", errUsage, err)
	}
	bad := func(format string, a ...any) (config, string, error) {
		fmt.Fprintf(stderr, "keyless: "+format+"\n", a...)
		return config{}, "", errUsage
	}
	for _, a := range strings.Split(*signers, ",") {
		if a = strings.TrimSpace(a); a != "" {
			cfg.signers = append(cfg.signers, a)
		}
	}
	switch {
	case fs.NArg() != 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case cfg.dir == "" || len(cfg.signers) == 0 || *listen == "":
		return bad("-dir, -signer and -listen are required")
	case cfg.alg != "" && checkSiteName(cfg.alg) != nil:
		return bad("-alg: %v", checkSiteName(cfg.alg))
	case cfg.signTimeout <= 0:
		return bad("-sign-timeout must be positive")
	}
	return cfg, *listen, nil
}
