//go:build linux

package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
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
	"github.com/seed-e1024768/async/remote"
)

var (
	benchRounds   = flag.Int("handshakes.rounds", 6, "BenchmarkHandshakes: rounds, each a slice of both servers")
	benchSlice    = flag.Duration("handshakes.slice", time.Second, "BenchmarkHandshakes: how long each server is measured in a round")
	benchClients  = flag.Int("handshakes.clients", 64, "BenchmarkHandshakes: clients handshaking at once")
	benchSameProc = flag.Bool("handshakes.signer-in-process", false, "BenchmarkHandshakes: run the signer in the benchmark's process, not as an asyncsignd process")
)

// benchSites is how many sites BenchmarkHandshakes serves, over
// benchKeys keys per curve.
const (
	benchSites = 100
	benchKeys  = 4
)

// BenchmarkHandshakes compares full TLS handshakes per second against two
// servers built alike, each serving benchSites sites (certificates with
// benchKeys keys between them, all on one curve) by SNI, in this process:
// one keyless, its keys in an asyncsignd process on loopback (the server
// is newServer's, as the command makes it), and one with the keys in
// process. It runs once for ECDSA P-256 and once for P-384; a curve the
// signer's client cannot sign with is skipped, saying so. Each round
// measures both servers in turn, for -handshakes.slice each, the order
// alternating from round to round, so that the machine's drift skews both
// alike. -handshakes.clients clients handshake at once, each handshake
// with the next site's name; no session is resumed (the servers issue no
// tickets and the clients keep no session cache); each client closes its
// conn with a reset, so that no port is left in TIME_WAIT.
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
// table per curve, and reports keyless-hs/s, local-hs/s and
// keyless/local-% (the goal: at least 80) over all rounds; ns/op is the
// wall time per keyless handshake.
func BenchmarkHandshakes(b *testing.B) {
	dir := deployment(b)
	curves := []struct {
		name  string
		curve elliptic.Curve
		sites *benchDeployment
	}{{name: "P-256", curve: elliptic.P256()}, {name: "P-384", curve: elliptic.P384()}}
	for i := range curves { // the keys first: the signer reads them at start
		curves[i].sites = newBenchDeployment(b, dir, curves[i].name, curves[i].curve)
	}
	var signerAddr, where string
	if *benchSameProc {
		_, signerAddr = startSignerInProcess(b, dir, 0)
		where = "in the benchmark's process"
	} else {
		signerBin, _ := binaries(b)
		signerAddr = signtest.Start(b, signerBin, "serve", "-dir", dir, "-listen", "127.0.0.1:0").Addr
		where = "an asyncsignd process"
	}
	for _, c := range curves {
		b.Run(c.name, func(b *testing.B) { benchHandshakes(b, c.name, c.sites, signerAddr, where) })
	}
}

// benchDeployment is a front end's copy of a deployment with benchSites
// sites on one curve, and their keys, which the signer's deployment holds
// too.
type benchDeployment struct {
	dir   string
	hosts []string                 // the sites' names
	keys  map[string]crypto.Signer // by key ID
}

// newBenchDeployment writes benchKeys keys on curve into the signer's
// deployment sdir, and returns a front end's copy of sdir (no keys) whose
// certs/ holds benchSites certificates, issued by the tests' CA, with
// those keys in turn.
func newBenchDeployment(b *testing.B, sdir, name string, curve elliptic.Curve) *benchDeployment {
	d := &benchDeployment{dir: b.TempDir(), keys: make(map[string]crypto.Signer)}
	if err := os.Mkdir(filepath.Join(d.dir, "certs"), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "signer-ca.pem", "client.pem", "client-key.pem"} {
		data, err := os.ReadFile(filepath.Join(sdir, f))
		if err != nil {
			b.Fatal(err)
		}
		writeFile(b, filepath.Join(d.dir, f), data, 0o600)
	}
	tag := strings.ToLower(strings.ReplaceAll(name, "-", ""))
	keys := make([]crypto.Signer, benchKeys)
	for i := range keys {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = k
		writeKey(b, sdir, fmt.Sprintf("bench-%s-%d", tag, i), k)
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			b.Fatal(err)
		}
		d.keys[remote.KeyID(der)] = k
	}
	for i := range benchSites {
		host := fmt.Sprintf("site%03d.%s.localhost", i, tag)
		issueSite(b, d.dir, fmt.Sprintf("site%03d", i), keys[i%benchKeys].Public(), host)
		d.hosts = append(d.hosts, host)
	}
	return d
}

// benchHandshakes is BenchmarkHandshakes for the sites of d.
func benchHandshakes(b *testing.B, curve string, d *benchDeployment, signerAddr, where string) {
	quiet := log.New(io.Discard, "", 0) // handshakes cut short by the clients' resets
	keyless, err := newServer(config{dir: d.dir, signers: []string{signerAddr}, errorLog: quiet})
	if errors.Is(err, errNoKey) {
		b.Skipf("the signer's client cannot serve %s sites in this build: %v", curve, err)
	}
	if err != nil {
		b.Fatal(err)
	}
	chains, err := readChains(d.dir, "")
	if err != nil {
		b.Fatal(err)
	}
	inProcess := func(_ context.Context, keyID string) (key, error) { return localKey{d.keys[keyID]}, nil }
	st, err := loadSites(context.Background(), chains, inProcess, "", false, quiet)
	if err != nil {
		b.Fatal(err)
	}
	local := newServerWithSites(st, "local, in this process", quiet)

	servers := []struct {
		name string
		addr string
	}{{"keyless", ""}, {"local", ""}}
	for i, s := range []*server{keyless, local} {
		s.http.TLSConfig.SessionTicketsDisabled = true
		servers[i].addr = serveInProcess(b, s)
	}
	base := clientTLS(b, d.dir) // ClientSessionCache nil: no resumption
	cfgs := make([]*tls.Config, len(d.hosts))
	for i, h := range d.hosts {
		cfgs[i] = base.Clone()
		cfgs[i].ServerName = h
	}

	for _, s := range servers { // warm up: connections to the signer, caches
		if _, err := measure(cfgs, s.addr, *benchClients, *benchSlice/4); err != nil {
			b.Fatalf("%s: %v", s.name, err)
		}
	}
	b.ResetTimer()
	counts := make([][2]int, *benchRounds)
	for r := range counts {
		for k := range 2 {
			i := (r + k) % 2 // keyless first in even rounds, local first in odd ones
			n, err := measure(cfgs, servers[i].addr, *benchClients, *benchSlice)
			if err != nil {
				b.Fatalf("round %d, %s: %v", r, servers[i].name, err)
			}
			counts[r][i] = n
		}
	}
	b.StopTimer()

	var tab strings.Builder
	fmt.Fprintf(&tab, "full ECDSA %s handshakes/s, %d sites, %d clients, %v slices, GOMAXPROCS %d, signer: %s\n",
		curve, len(d.hosts), *benchClients, *benchSlice, runtime.GOMAXPROCS(0), where)
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
// handshakes one after another, with the configs of cfgs in turn (each its
// own server name), and returns how many succeeded. Any failure ends the
// measure with an error.
func measure(cfgs []*tls.Config, addr string, clients int, d time.Duration) (int, error) {
	end := time.Now().Add(d)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	var (
		n        atomic.Int64
		next     atomic.Uint64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cfg := cfgs[next.Add(1)%uint64(len(cfgs))]
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
