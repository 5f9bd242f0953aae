package signer

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/promtest"

	"github.com/prometheus/client_golang/prometheus"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// scrape returns reg's metrics as the text exposition format has them:
// the value of each series by its name and labels, e.g.
// `asyncsignd_requests_total{code="ok",key_type="ecdsa_p256"}`.
func scrape(t testing.TB, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	return promtest.Scrape(t, reg)
}

// syncBuffer is a log's destination that tests read while the server
// writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// observed serves testDir with metrics in a registry of its own and a
// debug log in a buffer.
func observed(t *testing.T, cfg Config) (*served, *prometheus.Registry, *syncBuffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &syncBuffer{}
	cfg.Metrics = reg
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return serve(t, cfg), reg, logs
}

// TestMetricsCountRequests: requests answered are counted by code and key
// type, the signed ones timed (queue wait and signing apart), and the
// connection, streams and reloads show.
func TestMetricsCountRequests(t *testing.T) {
	sv, reg, logs := observed(t, Config{})
	_, byName := loadTestKeys(t)
	ctx := testContext(t)
	const n = 5
	for _, r := range ecdsaRequests(byName, 0, n) {
		if res, err := sv.client.SignOne(ctx, r); err != nil || res.Code != pb.Code_CODE_OK {
			t.Fatalf("SignOne: %v, %v", res, err)
		}
	}
	stream, err := sv.client.Sign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reqs := requests(byName["ed25519"].id, pb.Algorithm_ED25519, 0, 3)
	reqs = append(reqs, &pb.SignRequest{Id: 9, KeyId: strings.Repeat("0", 64), Algorithm: pb.Algorithm_ED25519, Payload: []byte("m")})
	if err := stream.Send(&pb.RequestBatch{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < len(reqs); {
		b, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got += len(b.Results)
	}
	m := scrape(t, reg)
	for series, want := range map[string]float64{
		`asyncsignd_requests_total{code="ok",key_type="ecdsa_p256"}`:       n,
		`asyncsignd_requests_total{code="ok",key_type="ed25519"}`:          3,
		`asyncsignd_requests_total{code="unknown_key",key_type="unknown"}`: 1,
		`asyncsignd_requests_total{code="ok",key_type="rsa2048"}`:          0,
		`asyncsignd_sign_seconds_count{key_type="ecdsa_p256"}`:             n,
		`asyncsignd_queue_wait_seconds_count`:                              n + 4,
		`asyncsignd_connections_open{state="authenticated"}`:               1,
		`asyncsignd_connections_open{state="handshaking"}`:                 0,
		`asyncsignd_streams_open`:                                          1,
		`asyncsignd_requests_in_flight`:                                    0,
		`asyncsignd_requests_queued`:                                       0,
		`asyncsignd_reloads_total`:                                         0,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if m[`asyncsignd_sign_seconds_sum{key_type="ecdsa_p256"}`] <= 0 {
		t.Errorf("no signing time counted")
	}
	stream.CloseSend()
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}

	sv.s.noteReload(nil)
	sv.s.noteReload(errors.New("policy.json:3:7: invalid character"))
	m = scrape(t, reg)
	if m["asyncsignd_reloads_total"] != 2 || m["asyncsignd_reload_failures_total"] != 1 {
		t.Errorf("reloads %v, failures %v; want 2, 1", m["asyncsignd_reloads_total"], m["asyncsignd_reload_failures_total"])
	}
	for _, want := range []string{"msg=reloaded", `msg="reload failed`, `policy.json:3:7`, `msg="connection opened" client="asyncsignd client" remote=127.0.0.1:`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
}

// TestMetricsRefusedClients: connections refused by the bounds and failed
// handshakes are counted by reason and logged, as are requests denied.
func TestMetricsRefusedClients(t *testing.T) {
	sv, reg, logs := observed(t, Config{MaxConnsPerClient: 1})
	signWithin(t, sv.client, 10*time.Second)
	// A second connection of the same client: over its bound.
	other := dialDir(t, sv, testDir)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, byName := loadTestKeys(t)
	other.SignOne(ctx, ecdsaRequests(byName, 0, 1)[0])
	// A connection that is no TLS.
	c, err := net.Dial("tcp", sv.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	c.Close()
	sv.s.noteDenied("asyncsignd client", "rsa2048")
	waitFor(t, func() bool {
		m := scrape(t, reg)
		return m[`asyncsignd_clients_refused_total{reason="max_conns_per_client"}`] >= 1 &&
			m[`asyncsignd_clients_refused_total{reason="handshake_failed"}`] >= 1 &&
			m[`asyncsignd_clients_refused_total{reason="denied"}`] == 1
	})
	for _, want := range []string{
		`msg="connection refused: too many connections for this client" reason=max_conns_per_client client="asyncsignd client"`,
		`msg="handshake failed" reason=handshake_failed remote=127.0.0.1:`,
		`msg="request denied by the policy" reason=denied client="asyncsignd client" key=rsa2048`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
}

// TestLogConnectionClosed: a connection's end is logged with its
// client's name.
func TestLogConnectionClosed(t *testing.T) {
	sv, _, logs := observed(t, Config{})
	signWithin(t, sv.client, 10*time.Second)
	sv.conn.Close()
	waitFor(t, func() bool {
		return strings.Contains(logs.String(), `msg="connection closed" client="asyncsignd client"`)
	})
}

// TestRefusalLogRateLimited: a flood of refused clients writes at most
// refusalBurst lines at once and refusalRate a second after, and says
// how many it held back; the metrics count them all.
func TestRefusalLogRateLimited(t *testing.T) {
	var logs bytes.Buffer
	now := time.Unix(1e9, 0)
	reg := prometheus.NewRegistry()
	o := &observer{log: slog.New(slog.NewTextHandler(&logs, nil))}
	o.refusals.init(refusalRate, refusalBurst, func() time.Time { return now })
	ts := testServer(nil)
	ts.conns = newLimiter(1, 1, 1)
	o.m = newMetrics(ts)
	reg.MustRegister(o.m)
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	lines := func() int { return strings.Count(logs.String(), "\n") }
	for range 10000 {
		o.refused(refusedHandshake, "", addr)
	}
	if got := lines(); got != refusalBurst {
		t.Fatalf("a flood of 10000 wrote %d lines at once, want %d", got, refusalBurst)
	}
	now = now.Add(time.Second)
	for range 10000 {
		o.refused(refusedConns, "", addr)
	}
	// The summary, then refusalRate lines.
	if got := lines(); got != refusalBurst+1+refusalRate {
		t.Fatalf("a second of flood wrote %d lines in all, want %d:\n%s", got, refusalBurst+1+refusalRate, logs.String())
	}
	if want := fmt.Sprintf("msg=\"%d more refused lines suppressed\"", 10000-refusalBurst); !strings.Contains(logs.String(), want) {
		t.Errorf("no %s in:\n%s", want, logs.String())
	}
	m := scrape(t, reg)
	if m[`asyncsignd_clients_refused_total{reason="handshake_failed"}`] != 10000 || m[`asyncsignd_clients_refused_total{reason="max_conns"}`] != 10000 {
		t.Errorf("refusals counted: %v", m)
	}
}

// TestLogNoSecrets: at the debug level, the log of a server that signs
// holds neither the payload nor the signature, in any encoding.
func TestLogNoSecrets(t *testing.T) {
	sv, _, logs := observed(t, Config{})
	_, byName := loadTestKeys(t)
	payload := []byte("a message no log may hold: 8c1f5d2e")
	res, err := sv.client.SignOne(testContext(t), &pb.SignRequest{KeyId: byName["ed25519"].id, Algorithm: pb.Algorithm_ED25519, Payload: payload})
	if err != nil || res.Code != pb.Code_CODE_OK {
		t.Fatalf("SignOne: %v, %v", res, err)
	}
	sv.conn.Close()
	waitFor(t, func() bool { return strings.Contains(logs.String(), "connection closed") })
	assertNoSecret(t, logs.String(), payload, res.Signature)
}

// assertNoSecret fails t if log holds any of secrets, raw, in hex or in
// base64.
func assertNoSecret(t *testing.T, log string, secrets ...[]byte) {
	t.Helper()
	for _, s := range secrets {
		for _, enc := range []string{string(s), hex.EncodeToString(s), base64.StdEncoding.EncodeToString(s), base64.RawURLEncoding.EncodeToString(s), fmt.Sprintf("%v", s)} {
			if strings.Contains(log, enc) {
				t.Errorf("the log holds a secret (%q)", enc)
			}
		}
	}
}

// TestMetricsOff: a server without metrics or logger has no observer,
// and pays nothing for one.
func TestMetricsOff(t *testing.T) {
	s, err := New(Config{Dir: testDir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(time.Second)
	if s.obs != nil || s.conns.obs != nil {
		t.Fatal("an observer without metrics or logger")
	}
}

// TestMetricsRegisteredTwice: a registerer that holds a server's metrics
// already refuses another's, and New says so.
func TestMetricsRegisteredTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{Dir: testDir, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(time.Second)
	_, err = New(Config{Dir: testDir, Metrics: reg})
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		t.Fatalf("second New: %v, want an AlreadyRegisteredError", err)
	}
}

// TestMetricsHotPathAllocs: what a request costs the metrics allocates
// nothing.
func TestMetricsHotPathAllocs(t *testing.T) {
	keys, byName := loadTestKeys(t)
	s := testServer(keys)
	s.conns = newLimiter(1, 1, 1)
	if err := s.observe(Config{Metrics: prometheus.NewRegistry()}); err != nil {
		t.Fatal(err)
	}
	req := ecdsaRequests(byName, 0, 1)[0]
	o := new(op)
	allocs := testing.AllocsPerRun(1000, func() { observeRequest(s, o, req) })
	if allocs != 0 {
		t.Errorf("%v allocations a request", allocs)
	}
}

// observeRequest is what the metrics do for one signed request.
func observeRequest(s *Server, o *op, req *pb.SignRequest) {
	s.obs.arrived(o)
	kt := s.keyTypeOf(req)
	start := s.obs.taken(o)
	s.obs.signed(start, kt)
	s.count(pb.Code_CODE_OK, kt)
}

// BenchmarkObserveRequest: what the metrics cost a request, on every
// core at once (the workers share the counters).
func BenchmarkObserveRequest(b *testing.B) {
	keys, byName := loadTestKeys(b)
	s := testServer(keys)
	s.conns = newLimiter(1, 1, 1)
	if err := s.observe(Config{Metrics: prometheus.NewRegistry()}); err != nil {
		b.Fatal(err)
	}
	req := ecdsaRequests(byName, 0, 1)[0]
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		o := new(op)
		for pb.Next() {
			observeRequest(s, o, req)
		}
	})
}

// TestMetricsEvicted: connections closed while handshaking, to make room
// for newer ones, are counted as such, not as failed handshakes.
func TestMetricsEvicted(t *testing.T) {
	sv, reg, _ := observed(t, Config{MaxHandshakes: 2})
	idleConns(t, sv.addr, 5)
	waitFor(t, func() bool {
		return scrape(t, reg)[`asyncsignd_clients_refused_total{reason="handshake_evicted"}`] == 3
	})
	signWithin(t, sv.client, 10*time.Second)
	m := scrape(t, reg)
	if got := m[`asyncsignd_clients_refused_total{reason="handshake_failed"}`]; got != 0 {
		t.Errorf("%v failed handshakes counted, want 0 (the evicted ones are counted apart)", got)
	}
}

// TestRefusalFloodLogBounded: a flood of connections that fail their
// handshake writes a bounded number of log lines, at most the bucket's
// burst and rate over the time it took (and the lines saying how many
// were suppressed), while the metrics count every one.
func TestRefusalFloodLogBounded(t *testing.T) {
	sv, reg, logs := observed(t, Config{})
	const n = 300
	start := time.Now()
	for range n {
		c, err := net.Dial("tcp", sv.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("not TLS\r\n\r\n"))
		// Until the server closes it: a connection the client resets
		// first may never reach the server's accept, and go uncounted.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
	}
	waitFor(t, func() bool {
		// Those beyond MaxHandshakes at once are evicted instead, and
		// those beyond MaxConns (when the server falls behind) closed.
		m := scrape(t, reg)
		return m[`asyncsignd_clients_refused_total{reason="handshake_failed"}`]+
			m[`asyncsignd_clients_refused_total{reason="handshake_evicted"}`]+
			m[`asyncsignd_clients_refused_total{reason="max_conns"}`] == n
	})
	elapsed := time.Since(start)
	lines := strings.Count(logs.String(), ` reason=handshake_`)
	bound := refusalBurst + int(elapsed.Seconds()*refusalRate) + 1
	if lines > bound || lines < refusalBurst {
		t.Errorf("%d refused clients in %v wrote %d lines, want %d to %d", n, elapsed, lines, refusalBurst, bound)
	}
}
