//go:build linux

package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/signtest"
)

var (
	benchRounds   = flag.Int("handshakes.rounds", 6, "BenchmarkHandshakes: rounds, each a slice of both servers")
	benchSlice    = flag.Duration("handshakes.slice", time.Second, "BenchmarkHandshakes: how long each server is measured in a round")
	benchClients  = flag.Int("handshakes.clients", 64, "BenchmarkHandshakes: clients handshaking at once")
	benchSameProc = flag.Bool("handshakes.signer-in-process", false, "BenchmarkHandshakes: run the signer in the benchmark's process, not as an asyncsignd process")
)

// BenchmarkHandshakes compares full TLS handshakes per second against two
// servers built alike by newServerWithKey, both ECDSA P-256, in this
// process: one keyless, its key in an asyncsignd process on loopback (the
// server is newServer's, as the command makes it), and one with the key in
// process. Each round measures both in turn, for -handshakes.slice each,
// the order alternating from round to round, so that the machine's drift
// skews both alike. -handshakes.clients clients handshake at once; no
// session is resumed (the servers issue no tickets and the clients keep no
// session cache); each client closes its conn with a reset, so that no
// port is left in TIME_WAIT.
//
// With -handshakes.signer-in-process the signer runs in the benchmark's
// process instead, on the same GOMAXPROCS: then the keyless server's extra
// work (the RPCs) is all measured against the same CPU share, whereas a
// signer process gets its own share of a loaded machine.
//
// Run it with
//
//	go test -run '^$' -bench Handshakes -benchtime 1x ./examples/keyless
//
// (-benchtime does not matter: the rounds are the flags'.) It logs a
// table, and reports keyless-hs/s, local-hs/s and keyless/local-% (the
// goal: at least 80) over all rounds; ns/op is the wall time per keyless
// handshake.
func BenchmarkHandshakes(b *testing.B) {
	dir := deployment(b)
	var signerAddr, where string
	if *benchSameProc {
		_, signerAddr = startSignerInProcess(b, dir, 0)
		where = "in the benchmark's process"
	} else {
		signerBin, _ := binaries(b)
		signerAddr = signtest.Start(b, signerBin, "serve", "-dir", dir, "-listen", "127.0.0.1:0").Addr
		where = "an asyncsignd process"
	}
	quiet := log.New(io.Discard, "", 0) // handshakes cut short by the clients' resets

	keyless, err := newServer(config{dir: serverCopy(b, dir), signers: []string{signerAddr}, alg: "ecdsap256", errorLog: quiet})
	if err != nil {
		b.Fatal(err)
	}
	cert, err := readChain(filepath.Join(dir, "certs", "ecdsap256.pem"))
	if err != nil {
		b.Fatal(err)
	}
	local := newServerWithKey(cert, localKey{readKey(b, filepath.Join(dir, "keys", "ecdsap256.key"))}, "local, in this process", quiet)

	servers := []struct {
		name string
		addr string
	}{{"keyless", ""}, {"local", ""}}
	for i, s := range []*server{keyless, local} {
		s.http.TLSConfig.SessionTicketsDisabled = true
		servers[i].addr = serveInProcess(b, s)
	}
	cfg := clientTLS(b, dir) // ClientSessionCache nil: no resumption

	for _, s := range servers { // warm up: connections to the signer, caches
		if _, err := measure(cfg, s.addr, *benchClients, *benchSlice/4); err != nil {
			b.Fatalf("%s: %v", s.name, err)
		}
	}
	b.ResetTimer()
	counts := make([][2]int, *benchRounds)
	for r := range counts {
		for k := range 2 {
			i := (r + k) % 2 // keyless first in even rounds, local first in odd ones
			n, err := measure(cfg, servers[i].addr, *benchClients, *benchSlice)
			if err != nil {
				b.Fatalf("round %d, %s: %v", r, servers[i].name, err)
			}
			counts[r][i] = n
		}
	}
	b.StopTimer()

	var tab strings.Builder
	fmt.Fprintf(&tab, "full ECDSA P-256 handshakes/s, %d clients, %v slices, GOMAXPROCS %d, signer: %s\n",
		*benchClients, *benchSlice, runtime.GOMAXPROCS(0), where)
	fmt.Fprintf(&tab, "%-6s %12s %12s %9s\n", "round", "keyless", "local", "ratio")
	var sum [2]int
	secs := benchSlice.Seconds()
	for r, c := range counts {
		fmt.Fprintf(&tab, "%-6d %12.0f %12.0f %8.1f%%\n", r+1, float64(c[0])/secs, float64(c[1])/secs, 100*float64(c[0])/float64(max(c[1], 1)))
		sum[0] += c[0]
		sum[1] += c[1]
	}
	total := secs * float64(len(counts))
	kl, lc := float64(sum[0])/total, float64(sum[1])/total
	fmt.Fprintf(&tab, "%-6s %12.0f %12.0f %8.1f%%", "all", kl, lc, 100*kl/max(lc, 1))
	b.Log("\n" + tab.String())
	b.ReportMetric(kl, "keyless-hs/s")
	b.ReportMetric(lc, "local-hs/s")
	b.ReportMetric(100*kl/max(lc, 1), "keyless/local-%")
	b.ReportMetric(1e9/max(kl, 1), "ns/op")
}

// measure runs clients clients against addr for d, each making full
// handshakes one after another, and returns how many succeeded. Any
// failure ends the measure with an error.
func measure(cfg *tls.Config, addr string, clients int, d time.Duration) (int, error) {
	end := time.Now().Add(d)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	var (
		n        atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				err := handshakeOnce(ctx, cfg, addr)
				if err != nil {
					if ctx.Err() != nil || !time.Now().Before(end) {
						return // cut short by the end of the slice
					}
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(n.Load()), firstErr
}

// handshakeOnce makes one full handshake with addr, then resets the conn.
func handshakeOnce(ctx context.Context, cfg *tls.Config, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	c.(*net.TCPConn).SetLinger(0) // close with a reset: no TIME_WAIT to run out of ports
	defer c.Close()
	return tls.Client(c, cfg).HandshakeContext(ctx)
}

// localKey is a private key in process, made to look like the remote one.
type localKey struct{ crypto.Signer }

func (k localKey) WithContext(context.Context) crypto.Signer { return k.Signer }

// readKey reads a PKCS #8 PEM private key: the benchmark's, not the
// server's, which never reads one.
func readKey(b *testing.B, path string) crypto.Signer {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		b.Fatalf("%s: no PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return k.(crypto.Signer)
}
