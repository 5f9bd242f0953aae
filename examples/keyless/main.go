//go:build linux

// Command keyless is an HTTPS server whose private key never leaves its
// signer: it serves with a certificate from a deployment directory, and
// every handshake is signed by a remote signer (cmd/asyncsignd) through
// the engine of package remote.
//
// Usage:
//
//	keyless -dir DIR -signer ADDR[,ADDR...] -listen ADDR [-alg ecdsap256|ecdsap384|ecdsap521|ed25519|rsa2048|rsa3072|rsa4096] [-sign-timeout D]
//
// DIR is a deployment written by `asyncsignd init DIR`. The server reads
// DIR/certs/<alg>.pem (the chain it serves, issued by the site CA,
// DIR/ca.pem, which its clients trust), and DIR/signer-ca.pem,
// DIR/client.pem and DIR/client-key.pem (the identity it shows the
// signers, and the only CA it takes a signer's certificate from: a front
// end's or a client's certificate is no signer's). It never opens DIR/keys:
// it may be given a copy of DIR without it. At start it asks the signers
// for the key of the certificate, and fails if none answers within 10s.
// Its first line on standard output is
//
//	listening on HOST:PORT
//
// so that -listen 127.0.0.1:0 can be used. Every response says which
// signature scheme the connection's handshake was signed with, and that
// the key was remote.
//
// # How a handshake is signed
//
// The tls.Config's GetCertificate gives each handshake a crypto.Signer of
// its own, made with remote.Signer.WithContext from the handshake's
// context (ClientHelloInfo.Context): when that context ends, the engine
// tells the signer to drop the request. Each certificate offers only the
// schemes the signer makes: ECDSA P-256 with SHA-256, Ed25519, and for
// RSA, PSS and PKCS #1 v1.5 with SHA-256.
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
	"slices"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: keyless -dir DIR -signer ADDR[,ADDR...] -listen ADDR [-alg ecdsap256|ecdsap384|ecdsap521|ed25519|rsa2048|rsa3072|rsa4096] [-sign-timeout D]
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
	signers := fs.String("signer", "", "the signers' `addresses`, comma-separated")
	listen := fs.String("listen", "", "`address` to listen on, e.g. 127.0.0.1:0")
	fs.StringVar(&cfg.alg, "alg", "ecdsap256", "key `type`: "+strings.Join(algs, ", "))
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
	case !slices.Contains(algs, cfg.alg):
		return bad("-alg %q: want one of %s", cfg.alg, strings.Join(algs, ", "))
	case cfg.signTimeout <= 0:
		return bad("-sign-timeout must be positive")
	}
	return cfg, *listen, nil
}
