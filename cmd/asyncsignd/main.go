// Command asyncsignd is a remote signer: it signs, over gRPC with mutual
// TLS 1.3, with private keys that never leave it (package signd; the
// protocol is internal/signpb, the client package remote).
//
// Usage:
//
//	asyncsignd init DIR
//	asyncsignd add-client DIR NAME
//	asyncsignd serve -dir DIR -listen ADDR [-delay D] [-workers N] [-grace D] [-cpuprofile FILE]
//	                 [-handshake-timeout D] [-max-conns N] [-max-handshakes N]
//	                 [-max-conns-per-client N] [-idle-timeout D]
//	                 [-max-memory BYTES] [-client-memory BYTES]
//
// init writes a ready deployment into DIR, with a CA for each role, so
// that each certificate is good in its own role only: the site CA (ca.pem,
// ca-key.pem), which issues the front ends' certificates and is what a
// browser or curl trusts; the signer CA (signer-ca.pem, signer-ca-key.pem),
// which issues the signer's identity (server.pem, server-key.pem, for
// localhost and 127.0.0.1) and is the only CA clients take a signer's
// certificate from; the client CA (client-ca.pem, client-ca-key.pem),
// which issues the client identities and is the only CA the signer takes
// a client's certificate from; a client identity (client.pem,
// client-key.pem); signing keys (keys/NAME.key, PKCS #8, for NAME in
// ecdsap256, ecdsap384, ecdsap521, rsa2048, rsa3072, rsa4096, ed25519)
// and a front end's certificate for each (certs/NAME.pem, for localhost,
// 127.0.0.1 and NAME.localhost), for a TLS front end that
// serves with a key while the key stays here. Private keys get mode 0600,
// keys/ 0700. init is all or nothing: it builds the deployment beside DIR
// and renames it to DIR, so a killed init leaves no DIR (run it again).
// DIR must not exist or be an empty directory.
//
// add-client issues another client identity, NAME (letters, digits, '.',
// '_', '-'), and writes it as DIR/clients/NAME: a directory with
// signer-ca.pem, client.pem, client-key.pem and certs/, which a client
// takes as it takes DIR. The signer counts each client's bounds by its
// name.
//
// serve serves every key in DIR/keys on ADDR: gRPC over TLS 1.3 only,
// client certificates required and verified against DIR/client-ca.pem,
// and the standard gRPC health service. It refuses, as ssh does, a
// deployment whose private keys (keys/*.key, *-key.pem) or keys/ group or
// others may read or write, saying which and the chmod that fixes it; and
// a deployment written by an older init, with one CA for every role
// (re-run init in a new directory). Its first line on standard output is
//
//	listening on HOST:PORT
//
// so that -listen 127.0.0.1:0 can be used. -delay D makes every request
// wait D before it is signed, as if the signer were far away; -workers N
// sets the number of signing workers (default: one per core). On SIGTERM
// or SIGINT it answers the requests in flight (for at most -grace) and
// exits 0; a second SIGTERM or SIGINT ends it at once, exit status 1.
// SIGHUP does not stop it: reloading is not supported yet, and it says so
// on standard error. -cpuprofile FILE writes a CPU profile of the whole
// run, for go tool pprof.
//
// Connections are bounded so that idle sockets or one client cannot lock
// others out: -handshake-timeout (default 5s) bounds a connection's TLS
// handshake; -max-conns (default 128, or half the open-file limit if
// less) bounds the connections open; -max-handshakes (default 64) those
// not yet authenticated, a new one closing the oldest; -max-conns-per-client
// (default 8) those of one client identity; -idle-timeout (default 5m)
// closes a connection with no RPC for that long.
//
// -max-memory bounds the bytes the signer holds for every client's
// requests and unsent answers together (default 512MiB), -client-memory
// those of each client identity, the Subject CommonName of its
// certificate (default 64MiB); sizes are in bytes, or with a suffix
// KiB, MiB or GiB. A request beyond a bound is answered CODE_OVERLOADED
// at once, and a client near its bound is read no more until its
// answers are taken. A message being read is paid for from the bounds
// before it is read (twice its largest size, 1 MiB): -client-memory is
// at least about 4 MiB, -max-memory at least -client-memory. Each
// connection may cost up to signer.ConnectionBytes (about 4.25 MiB) on top:
// -max-conns and -max-conns-per-client times that.
//
// Bad arguments: a message and the usage on standard error, exit status
// 2. Any other failure: a message on standard error, exit status 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/seed-e1024768/async/signer"
)

const usage = `usage:
  asyncsignd init DIR
  asyncsignd add-client DIR NAME
  asyncsignd serve -dir DIR -listen ADDR [-delay D] [-workers N] [-grace D] [-cpuprofile FILE]
                   [-handshake-timeout D] [-max-conns N] [-max-handshakes N]
                   [-max-conns-per-client N] [-idle-timeout D]
                   [-max-memory BYTES] [-client-memory BYTES]
`

// errUsage marks bad arguments: exit status 2.
var errUsage = errors.New("bad arguments")

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "asyncsignd:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "asyncsignd: no command")
		return errUsage
	}
	switch args[0] {
	case "init":
		if len(args) != 2 || args[1] == "" {
			fmt.Fprintln(stderr, "asyncsignd init: want one directory")
			return errUsage
		}
		return signer.Init(args[1])
	case "add-client":
		if len(args) != 3 || args[1] == "" {
			fmt.Fprintln(stderr, "asyncsignd add-client: want a deployment directory and a name")
			return errUsage
		}
		dir, err := signer.AddClient(args[1], args[2])
		if errors.Is(err, signer.ErrClientName) {
			fmt.Fprintln(stderr, "asyncsignd add-client:", err, "(want letters, digits, '.', '_' or '-')")
			return errUsage
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, dir)
		return nil
	case "serve":
		return serve(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "asyncsignd: unknown command %q\n", args[0])
		return errUsage
	}
}

func serve(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("asyncsignd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "deployment `directory` (see asyncsignd init)")
	listen := fs.String("listen", "", "`address` to listen on, e.g. 127.0.0.1:0")
	delay := fs.Duration("delay", 0, "how long every request waits before it is signed")
	workers := fs.Int("workers", 0, "signing workers (0: one per core)")
	grace := fs.Duration("grace", 10*time.Second, "how long to wait for requests in flight on SIGTERM")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	handshakeTimeout := fs.Duration("handshake-timeout", signer.DefaultHandshakeTimeout, "how long a new connection may take to handshake")
	maxConns := fs.Int("max-conns", 0, "connections open at once (0: 128, or half the open-file limit if less)")
	maxHandshakes := fs.Int("max-handshakes", signer.DefaultMaxHandshakes, "connections not yet authenticated; a new one closes the oldest")
	maxPerClient := fs.Int("max-conns-per-client", signer.DefaultMaxConnsPerClient, "connections of one client identity")
	idleTimeout := fs.Duration("idle-timeout", signer.DefaultIdleTimeout, "close a connection with no RPC for this long")
	// Bounds in bytes of what clients can make the signer hold: a
	// number of bytes, or of KiB, MiB or GiB with that suffix.
	maxMemory, clientMemory := int64(signer.DefaultMaxMemory), int64(signer.DefaultClientMemory)
	fs.Func("max-memory", "`bytes` the signer holds at most for all clients' requests and answers together (default 512MiB)", byteSize(&maxMemory))
	fs.Func("client-memory", "`bytes` the signer holds at most for each client identity (default 64MiB)", byteSize(&clientMemory))
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	switch {
	case fs.NArg() != 0:
		fmt.Fprintf(stderr, "asyncsignd serve: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	case *dir == "" || *listen == "":
		fmt.Fprintln(stderr, "asyncsignd serve: -dir and -listen are required")
		return errUsage
	case *delay < 0 || *workers < 0 || *grace < 0:
		fmt.Fprintln(stderr, "asyncsignd serve: -delay, -workers and -grace must not be negative")
		return errUsage
	case *handshakeTimeout <= 0 || *maxConns < 0 || *maxHandshakes <= 0 || *maxPerClient <= 0 || *idleTimeout <= 0:
		fmt.Fprintln(stderr, "asyncsignd serve: -handshake-timeout, -max-handshakes, -max-conns-per-client and -idle-timeout must be positive, -max-conns not negative")
		return errUsage
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	s, err := signer.New(signer.Config{
		Dir: *dir, Delay: *delay, Workers: *workers,
		HandshakeTimeout: *handshakeTimeout, MaxConns: *maxConns, MaxHandshakes: *maxHandshakes,
		MaxConnsPerClient: *maxPerClient, IdleTimeout: *idleTimeout,
		MaxMemory: maxMemory, ClientMemory: clientMemory,
	})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	// Signals are caught only while serving: init and add-client stay
	// interruptible as any command is.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	fmt.Fprintf(stdout, "listening on %s\n", lis.Addr())
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				fmt.Fprintln(stderr, "asyncsignd: SIGHUP: reloading is not supported yet; still serving")
				continue
			}
			return drain(s, *grace, served, sigs, stderr)
		case err := <-served:
			s.Stop(*grace)
			return err
		}
	}
}

// errInterrupted is the exit of a drain cut short by a second signal.
var errInterrupted = errors.New("a second signal during the drain: stopped without waiting for the requests in flight")

// drain stops s, waiting at most grace for the requests in flight, unless
// a second SIGTERM or SIGINT comes first: then it returns at once, and the
// process exits with the drain unfinished.
func drain(s *signer.Server, grace time.Duration, served <-chan error, sigs <-chan os.Signal, stderr io.Writer) error {
	stopped := make(chan struct{})
	go func() {
		s.Stop(grace)
		close(stopped)
	}()
	for {
		select {
		case <-stopped:
			return <-served
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				fmt.Fprintln(stderr, "asyncsignd: SIGHUP: reloading is not supported yet; stopping already")
				continue
			}
			return errInterrupted
		}
	}
}

// byteSize parses a size in bytes, with an optional suffix KiB, MiB or
// GiB, into *n: at least one byte.
func byteSize(n *int64) func(string) error {
	return func(v string) error {
		unit := int64(1)
		for i, suffix := range []string{"KiB", "MiB", "GiB"} {
			if s, ok := strings.CutSuffix(v, suffix); ok {
				v, unit = s, 1<<(10*(i+1))
			}
		}
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil || x <= 0 || x > math.MaxInt64/unit {
			return errors.New("want a positive number of bytes, KiB, MiB or GiB, e.g. 64MiB")
		}
		*n = x * unit
		return nil
	}
}
