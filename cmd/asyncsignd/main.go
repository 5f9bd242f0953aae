// Command asyncsignd is a remote signer: it signs, over gRPC with mutual
// TLS 1.3, with private keys that never leave it (package signd; the
// protocol is internal/signpb, the client package remote).
//
// Usage:
//
//	asyncsignd init DIR
//	asyncsignd serve -dir DIR -listen ADDR [-delay D] [-workers N] [-grace D] [-cpuprofile FILE]
//	                 [-max-memory BYTES] [-client-memory BYTES]
//
// init writes a ready deployment into DIR: a CA (ca.pem, ca-key.pem), the
// signer's identity (server.pem, server-key.pem, for localhost and
// 127.0.0.1), a client identity (client.pem, client-key.pem), signing
// keys (keys/ecdsap256.key, keys/ed25519.key, keys/rsa2048.key, PKCS #8)
// and a certificate for each (certs/*.pem, for localhost and 127.0.0.1)
// for a TLS front end that serves with a key while the key stays here. It
// refuses to overwrite any existing file; private keys get mode 0600.
//
// serve serves every key in DIR/keys on ADDR: gRPC over TLS 1.3 only,
// client certificates required and verified against DIR/ca.pem, and the
// standard gRPC health service. Its first line on standard output is
//
//	listening on HOST:PORT
//
// so that -listen 127.0.0.1:0 can be used. -delay D makes every request
// wait D before it is signed, as if the signer were far away; -workers N
// sets the number of signing workers (default: one per core). On SIGTERM
// or SIGINT it answers the requests in flight (for at most -grace) and
// exits 0. -cpuprofile FILE writes a CPU profile of the whole run, for
// go tool pprof.
//
// -max-memory bounds the bytes the signer holds for every client's
// requests and unsent answers together (default 512MiB), -client-memory
// those of each client identity, the Subject CommonName of its
// certificate (default 64MiB); sizes are in bytes, or with a suffix
// KiB, MiB or GiB. A request beyond a bound is answered CODE_OVERLOADED
// at once, and a client near its bound is read no more until its
// answers are taken. Each connection may cost up to
// signd.ConnectionBytes (about 132 MiB) on top.
//
// Bad arguments: a message and the usage on standard error, exit status
// 2. Any other failure: a message on standard error, exit status 1.
package main

import (
	"context"
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

	"github.com/seed-e1024768/async/internal/signd"
)

const usage = `usage:
  asyncsignd init DIR
  asyncsignd serve -dir DIR -listen ADDR [-delay D] [-workers N] [-grace D] [-cpuprofile FILE]
                   [-max-memory BYTES] [-client-memory BYTES]
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
		fmt.Fprintln(os.Stderr, "asyncsignd:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
		return signd.Init(args[1])
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "asyncsignd: unknown command %q\n", args[0])
		return errUsage
	}
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("asyncsignd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "deployment `directory` (see asyncsignd init)")
	listen := fs.String("listen", "", "`address` to listen on, e.g. 127.0.0.1:0")
	delay := fs.Duration("delay", 0, "how long every request waits before it is signed")
	workers := fs.Int("workers", 0, "signing workers (0: one per core)")
	grace := fs.Duration("grace", 10*time.Second, "how long to wait for requests in flight on SIGTERM")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to `file`")
	// Bounds in bytes of what clients can make the signer hold: a
	// number of bytes, or of KiB, MiB or GiB with that suffix.
	maxMemory, clientMemory := int64(signd.DefaultMaxMemory), int64(signd.DefaultClientMemory)
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
	s, err := signd.New(signd.Config{Dir: *dir, Delay: *delay, Workers: *workers, MaxMemory: maxMemory, ClientMemory: clientMemory})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s\n", lis.Addr())
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	select {
	case <-ctx.Done():
		s.Stop(*grace)
		return <-served
	case err := <-served:
		s.Stop(*grace)
		return err
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
