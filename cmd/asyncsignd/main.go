// Command asyncsignd is a remote signer: it signs, over gRPC with mutual
// TLS 1.3, with private keys that never leave it (package signer; its
// client is package remote).
//
// Usage:
//
//	asyncsignd init [-hosts NAME,...] DIR
//	asyncsignd client DIR NAME
//	asyncsignd serve -dir DIR -listen ADDR [-delay D] [-workers N] [-grace D] [-cpuprofile FILE]
//	                 [-handshake-timeout D] [-max-conns N] [-max-handshakes N]
//	                 [-max-conns-per-client N] [-idle-timeout D]
//	                 [-max-memory BYTES] [-client-memory BYTES]
//	                 [-metrics ADDR] [-log-format text|json] [-log-level debug|info|warn|error]
//	                 [-pkcs11 MODULE -pkcs11-token LABEL -pkcs11-pin-file FILE]
//	asyncsignd pkcs11-key -pkcs11 MODULE -pkcs11-token LABEL -pkcs11-pin-file FILE [-type ecdsap256|rsa2048] -name NAME DIR
//	asyncsignd version
//	asyncsignd help [COMMAND]
//
// Every command prints its usage on standard output and exits 0 with -h
// or --help, as "asyncsignd help COMMAND" does; "asyncsignd -h" lists
// the commands.
//
// init writes a ready deployment into DIR, with a CA for each role, so
// that each certificate is good in its own role only: the site CA
// (ca.pem), which issues the front ends' certificates and is what a
// browser or curl trusts; the signer CA (signer-ca.pem), which issues the
// signer's identity (server.pem, server-key.pem) and is the only CA
// clients take a signer's certificate from; the client CA (client-ca.pem),
// which issues the client identities and is the only CA the signer takes
// a client's certificate from; a client identity (client.pem,
// client-key.pem); signing keys (keys/NAME.key, PKCS #8, for NAME in
// ecdsap256, ecdsap384, ecdsap521, rsa2048, rsa3072, rsa4096, ed25519)
// and a front end's certificate for each (certs/NAME.pem), for a TLS
// front end that serves with a key while the key stays here. The
// certificates of the signer and of the front ends name localhost and
// 127.0.0.1, and each name of -hosts (DNS names or IP addresses,
// comma-separated); a front end's also NAME.localhost. The CAs'
// private keys (ca-key.pem, signer-ca-key.pem, client-ca-key.pem) go to
// DIR.ca beside DIR, never into DIR: move DIR.ca offline, and back when
// "client" needs it. Private keys get mode 0600, keys/ and DIR.ca 0700.
// init is all or nothing: it builds the deployment beside DIR and renames
// it to DIR, so a killed init leaves no DIR (run it again). DIR must not
// exist or be an empty directory, and DIR.ca must not exist. init prints
// each file it wrote and the command to run next.
//
// client issues another client identity, NAME (letters, digits, '.',
// '_', '-'), from the client CA's key in DIR.ca, and writes it as
// DIR/clients/NAME: a directory with signer-ca.pem, client.pem,
// client-key.pem and certs/, which a client takes as it takes DIR. The
// signer counts each client's bounds by its name, and DIR/policy.json
// says which keys it may use (see package signer's Policy):
// {"alice": ["ecdsap256"], "bob": ["*"]}. Without a policy file every
// client may use every key. (add-client is the same command, by its old
// name.)
//
// pkcs11-key generates key NAME inside a PKCS #11 token (never as a file)
// and writes DIR/certs/NAME.pem, its front end's certificate, issued by
// the site CA (DIR.ca).
//
// version prints the module's version ("(devel)" for a build from a
// checkout) and the VCS revision the binary was built from ("unknown" if
// the build did not record it, as with -buildvcs=false).
//
// serve serves every key in DIR/keys on ADDR: gRPC over TLS 1.3 only,
// client certificates required and verified against DIR/client-ca.pem,
// and the standard gRPC health service. It refuses, as ssh does, a
// deployment whose private keys (keys/*.key, *-key.pem) or keys/ group or
// others may read or write, saying which and the chmod that fixes it; a
// deployment that holds a CA's private key (an older init put them there),
// saying how to move it to DIR.ca; and a deployment written by an older
// init still, with one CA for every role (re-run init in a new
// directory). Its first line on standard output is
//
//	listening on HOST:PORT
//
// so that -listen 127.0.0.1:0 can be used. -delay D makes every request
// wait D before it is signed, as if the signer were far away; -workers N
// sets the number of signing workers (default: one per core). On SIGTERM
// or SIGINT it answers the requests in flight (for at most -grace) and
// exits 0; a second SIGTERM or SIGINT ends it at once, exit status 1.
// SIGHUP reloads the keys, the policy, the client CA and the server's
// certificate (signer.Server.Reload): connections and signatures in
// flight carry on, and a request still queued is checked again under the
// new policy and keys; if anything new does not parse, the old configuration stays
// in force and standard error says why. -cpuprofile FILE writes a CPU profile of the whole
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
// With -pkcs11 MODULE -pkcs11-token LABEL -pkcs11-pin-file FILE, serve
// serves the ECDSA and RSA keys of that PKCS #11 token (an HSM, SoftHSM2),
// each named by its label and signing inside the token, instead of
// DIR/keys; its TLS identity still comes from DIR. FILE holds the user
// PIN (a trailing newline is ignored) and, as a key file, must not be
// readable by group or others. pkcs11-key makes a key pair NAME of -type
// (default ecdsap256) inside the token, never as a file, and writes
// DIR/certs/NAME.pem, its front end's certificate from the site CA, for
// localhost, 127.0.0.1 and NAME.localhost (see package pkcs11store). A
// missing module, a token not found, a wrong PIN, a token with no key:
// a message naming it, exit status 1.
//
// Bad arguments: a message and the usage on standard error, exit status
// 2. Any other failure: a message on standard error, exit status 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"math"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/seed-e1024768/async/signer"
)

// A command of asyncsignd: its name, its synopsis (the arguments after
// the name), what it does in a line and in a paragraph, and its run,
// which defines its flags on fs and parses args with it. Bad arguments:
// run says why on stderr and returns errUsage. -h or -help: run returns
// flag.ErrHelp before doing anything. Either way dispatch prints the
// command's usage, with its flags as run defined them.
type command struct {
	name, synopsis, summary, doc string
	hidden                       bool // an alias kept for old scripts
	run                          func(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error
}

// commands are asyncsignd's commands, in the order help lists them.
// (Set in init: help reads the table.)
var commands []command

func init() {
	commands = []command{
		{name: "init", synopsis: "[-hosts NAME,...] DIR", summary: "write a new deployment into DIR",
			doc: `Writes a ready deployment into DIR (which must not exist or be empty):
a CA per role, the signer's identity, a client identity, signing keys
(keys/NAME.key) and a front end's certificate for each (certs/NAME.pem).
The CAs' private keys go to DIR.ca, out of the directory the signer
serves from: keep that offline; "asyncsignd client" needs it back.
Prints each file it wrote, and the command to run next.`,
			run: initCmd},
		{name: "client", synopsis: "DIR NAME", summary: "issue client identity NAME into DIR/clients/NAME",
			doc: `Issues the client identity NAME (letters, digits, '.', '_', '-'), signed by
the client CA (DIR.ca/client-ca-key.pem), into DIR/clients/NAME: client.pem,
client-key.pem (mode 0600), signer-ca.pem and certs/. A client takes that
directory as it takes DIR (asyncspeed -remote-dir, keyless -dir).
DIR/policy.json says which keys NAME may use. Prints the directory.`,
			run: clientCmd},
		{name: "add-client", synopsis: "DIR NAME", summary: "the same as client", hidden: true, run: clientCmd},
		{name: "serve", synopsis: "-dir DIR -listen ADDR [flags]", summary: "sign with DIR's keys on ADDR",
			doc: `Serves the keys of DIR (or of a PKCS #11 token) on ADDR, over gRPC with
mutual TLS 1.3, and prints "listening on HOST:PORT" once it listens.
SIGHUP reloads; SIGTERM or SIGINT drains (a second one ends at once).`,
			run: serve},
		{name: "pkcs11-key", synopsis: "-pkcs11 MODULE -pkcs11-token LABEL -pkcs11-pin-file FILE [-type ecdsap256|rsa2048] -name NAME DIR",
			summary: "make a key inside a PKCS #11 token, and its front end's certificate",
			doc: `Generates key NAME inside the token (never as a file) and writes
DIR/certs/NAME.pem, a certificate for a TLS front end naming localhost,
127.0.0.1 and NAME.localhost, issued by the site CA (DIR.ca/ca-key.pem).
"asyncsignd serve -pkcs11 ..." then serves it.`,
			run: pkcs11Key},
		{name: "version", summary: "print the module version and VCS revision", run: versionCmd},
		{name: "help", synopsis: "[COMMAND]", summary: "print the usage of asyncsignd or of COMMAND", run: helpCmd},
	}
}

// errUsage marks bad arguments: exit status 2.
var errUsage = errors.New("bad arguments")

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "asyncsignd:", err)
		os.Exit(1)
	}
}

// run runs the command args name. Usage asked for goes to stdout, and is
// no error; usage after bad arguments goes to stderr, with errUsage.
func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "asyncsignd: no command")
		printUsage(stderr)
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		printUsage(stdout)
		return nil
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "asyncsignd: unknown command %q\n", args[0])
		printUsage(stderr)
		return errUsage
	}
	fs := flag.NewFlagSet("asyncsignd "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr) // the errors flag reports
	fs.Usage = func() {} // printed below, once
	err := c.run(fs, args[1:], stdout, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printCommandUsage(stdout, c, fs)
		return nil
	case errors.Is(err, errUsage):
		printCommandUsage(stderr, c, fs)
	}
	return err
}

// parse parses args with fs: flag.ErrHelp for -h, errUsage for a bad
// flag (which fs has reported).
func parse(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return errUsage
	}
	return err
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// printUsage prints the list of commands.
func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: asyncsignd COMMAND [ARGS]\n\ncommands:")
	for _, c := range commands {
		if !c.hidden {
			fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintln(w, "\n\"asyncsignd help COMMAND\" or \"asyncsignd COMMAND -h\" prints a command's usage.")
}

// printCommandUsage prints c's usage, its flags as fs holds them.
func printCommandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintln(w, strings.TrimSpace("usage: asyncsignd "+c.name+" "+c.synopsis))
	if c.doc != "" {
		fmt.Fprintf(w, "\n%s\n", c.doc)
	}
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\nflags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// helpCmd prints the usage of asyncsignd, or of the command named.
func helpCmd(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() == 0:
		printUsage(stdout)
		return nil
	case fs.NArg() > 1:
		fmt.Fprintln(stderr, "asyncsignd help: want at most one command")
		return errUsage
	case lookup(fs.Arg(0)) == nil || fs.Arg(0) == "help":
		if fs.Arg(0) == "help" {
			return flag.ErrHelp
		}
		fmt.Fprintf(stderr, "asyncsignd help: unknown command %q\n", fs.Arg(0))
		return errUsage
	}
	return run([]string{fs.Arg(0), "-h"}, stdout, stderr)
}

// initCmd writes a deployment, and says what it wrote and what to do next.
func initCmd(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var hosts []string
	fs.Func("hosts", "more `NAME,...` (DNS names or IP addresses) for the certificates of the signer and of the front ends, besides localhost and 127.0.0.1", func(v string) error {
		for h := range strings.SplitSeq(v, ",") {
			hosts = append(hosts, strings.TrimSpace(h))
		}
		return nil
	})
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) == "" {
		fmt.Fprintln(stderr, "asyncsignd init: want one directory, after the flags")
		return errUsage
	}
	dir := fs.Arg(0)
	if err := signer.Init(dir, hosts...); errors.Is(err, signer.ErrHost) {
		fmt.Fprintln(stderr, "asyncsignd init -hosts:", err)
		return errUsage
	} else if err != nil {
		return err
	}
	for _, d := range []string{dir, signer.CADir(dir)} {
		err := filepath.WalkDir(d, func(path string, e iofs.DirEntry, err error) error {
			if err == nil && e.Type().IsRegular() {
				fmt.Fprintln(stdout, "wrote", path)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "The CAs' private keys are in %s, out of the directory the signer serves from: move it offline; \"asyncsignd client\" needs it back.\n", signer.CADir(dir))
	fmt.Fprintf(stdout, "next: asyncsignd serve -dir %s -listen 127.0.0.1:7000\n", dir)
	return nil
}

// clientCmd issues a client identity.
func clientCmd(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 || fs.Arg(0) == "" {
		fmt.Fprintln(stderr, "asyncsignd client: want a deployment directory and a name")
		return errUsage
	}
	dir, err := signer.AddClient(fs.Arg(0), fs.Arg(1))
	if errors.Is(err, signer.ErrClientName) {
		fmt.Fprintln(stderr, "asyncsignd client:", err, "(want letters, digits, '.', '_' or '-')")
		return errUsage
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, dir)
	return nil
}

func serve(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
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
	p11 := addPKCS11Flags(fs)
	obs := addObserveFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
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
	keys, closeKeys, err := p11.keyStore(stderr)
	if err != nil {
		return err
	}
	defer closeKeys() // after Stop: the token's sessions go with the server
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
	logger, metrics := obs.setup(stderr)
	s, err := signer.New(signer.Config{
		Dir: *dir, Delay: *delay, Workers: *workers,
		HandshakeTimeout: *handshakeTimeout, MaxConns: *maxConns, MaxHandshakes: *maxHandshakes,
		MaxConnsPerClient: *maxPerClient, IdleTimeout: *idleTimeout,
		MaxMemory: maxMemory, ClientMemory: clientMemory, Keys: keys,
		Logger: logger, Metrics: metrics,
	})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	metricsLis, err := obs.listen()
	if err != nil {
		lis.Close()
		return err
	}
	// Signals are caught only while serving: init and add-client stay
	// interruptible as any command is.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	fmt.Fprintf(stdout, "listening on %s\n", lis.Addr())
	defer obs.serveMetrics(metricsLis, stdout, logger)() // stopped once the signer is
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reload(s, stderr)
				continue
			}
			return drain(s, *grace, served, sigs, stderr)
		case err := <-served:
			s.Stop(*grace)
			return err
		}
	}
}

// reload reloads s and says how that went.
func reload(s *signer.Server, stderr io.Writer) {
	if err := s.Reload(); err != nil {
		fmt.Fprintln(stderr, "asyncsignd: SIGHUP: reload failed, the old configuration stays in force:", err)
		return
	}
	fmt.Fprintln(stderr, "asyncsignd: SIGHUP: reloaded")
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
				fmt.Fprintln(stderr, "asyncsignd: SIGHUP: not reloading: stopping already")
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
