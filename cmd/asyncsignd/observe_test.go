package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/promtest"

	"go.uber.org/goleak"

	pb "github.com/seed-e1024768/async/internal/signpb"
	"github.com/seed-e1024768/async/internal/signtest"
)

// metricsAddr waits for s's "metrics on HOST:PORT" line, right after its
// "listening on" line, and returns the address.
func metricsAddr(t *testing.T, s *signtest.Proc) string {
	t.Helper()
	for start := time.Now(); time.Since(start) < signtest.StartTimeout; time.Sleep(10 * time.Millisecond) {
		out := s.Stdout.String()
		if line, _, ok := strings.Cut(out, "\n"); ok {
			addr, ok := strings.CutPrefix(line, "metrics on ")
			if !ok {
				t.Fatalf("second line %q, want \"metrics on HOST:PORT\"", line)
			}
			return addr
		}
	}
	t.Fatalf("no \"metrics on\" line:\n%s", s.Stderr)
	return ""
}

// scrapeMetrics gets http://addr/metrics and returns each series' value
// by its name and labels.
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	return promtest.Parse(t, resp.Body)
}

// TestServeMetricsAndLogs: serve -metrics serves the signer's metrics,
// which count the signatures made through it; its JSON log has a line
// for the connection, and holds neither the payloads, nor the
// signatures, nor the keys; on SIGTERM it exits 0 and its metrics
// endpoint is gone.
func TestServeMetricsAndLogs(t *testing.T) {
	s := startServer(t, "-metrics", "127.0.0.1:0", "-log-format", "json", "-log-level", "debug")
	maddr := metricsAddr(t, s)
	const ok = `asyncsignd_requests_total{code="ok",key_type="ecdsa_p256"}`
	if m := scrapeMetrics(t, maddr); m[ok] != 0 || m["go_goroutines"] == 0 {
		t.Fatalf("before signing: %s = %v, go_goroutines = %v", ok, m[ok], m["go_goroutines"])
	}

	client := pb.NewSignerClient(dial(t, s.Addr))
	id, _ := certKey(t, "ecdsap256")
	ctx := testContext(t)
	const n = 20
	var secrets [][]byte
	for i := range n {
		payload := sha256Sum(fmt.Appendf(nil, "payload %d no log may hold", i))
		r, err := client.SignOne(ctx, &pb.SignRequest{Id: uint64(i), KeyId: id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: payload})
		if err != nil || r.Code != pb.Code_CODE_OK {
			t.Fatalf("SignOne: %v, %v", r, err)
		}
		secrets = append(secrets, payload, r.Signature)
	}
	m := scrapeMetrics(t, maddr)
	for series, want := range map[string]float64{
		ok: n,
		`asyncsignd_sign_seconds_count{key_type="ecdsa_p256"}`: n,
		`asyncsignd_queue_wait_seconds_count`:                  n,
		`asyncsignd_connections_open{state="authenticated"}`:   1,
	} {
		if m[series] != want {
			t.Errorf("%s = %v, want %v", series, m[series], want)
		}
	}

	s.Stop()
	if err := s.Err(); err != nil {
		t.Fatalf("serve on SIGTERM: %v", err)
	}
	if c, err := net.DialTimeout("tcp", maddr, time.Second); err == nil {
		c.Close()
		t.Errorf("the metrics endpoint still listens after the signer exited")
	}

	log := s.Stderr.String()
	sc := bufio.NewScanner(strings.NewReader(log))
	opened := false
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Errorf("a log line that is no JSON: %q", sc.Text())
			continue
		}
		if line["msg"] == "connection opened" && line["client"] == "asyncsignd client" {
			opened = true
		}
	}
	if !opened {
		t.Errorf("no \"connection opened\" line:\n%s", log)
	}
	key, err := os.ReadFile(filepath.Join(deploy, "keys", "ecdsap256.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(key), "\n") {
		if len(l) > 16 && !strings.HasPrefix(l, "-----") {
			secrets = append(secrets, []byte(l))
		}
	}
	for _, secret := range secrets {
		for _, enc := range []string{string(secret), hex.EncodeToString(secret), base64.StdEncoding.EncodeToString(secret)} {
			if strings.Contains(log, enc) {
				t.Fatalf("the log holds a payload, signature or key (%q):\n%s", enc, log)
			}
		}
	}
}

// TestBadObserveFlags: a -log-format or -log-level serve does not know
// is a usage error.
func TestBadObserveFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-log-format", "xml"},
		{"-log-level", "verbose"},
		{"-log-level", "INFO+2"},
		{"-metrics"},
	} {
		args = append([]string{"serve", "-dir", deploy, "-listen", "127.0.0.1:0"}, args...)
		if code, stderr := exitCode(t, args...); code != 2 || !strings.Contains(stderr, "usage") {
			t.Errorf("%q: exit %d, %q", args, code, stderr)
		}
	}
	if code, stderr := exitCode(t, "serve", "-dir", deploy, "-listen", "127.0.0.1:0", "-metrics", "256.0.0.1:0"); code != 1 || !strings.Contains(stderr, "-metrics") {
		t.Errorf("-metrics at a bad address: exit %d, %q", code, stderr)
	}
}

// TestMetricsServerStops: the metrics endpoint's server, once stopped,
// leaves no goroutine and no listener behind.
func TestMetricsServerStops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	o := addObserveFlags(fs)
	if err := fs.Parse([]string{"-metrics", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	log, reg := o.setup(io.Discard)
	if reg == nil {
		t.Fatal("no registry with -metrics")
	}
	lis, err := o.listen()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	stop := o.serveMetrics(lis, &out, log)
	addr, ok := strings.CutPrefix(strings.TrimSpace(out.String()), "metrics on ")
	if !ok {
		t.Fatalf("said %q", out.String())
	}
	if m := scrapeMetrics(t, addr); m["go_goroutines"] == 0 {
		t.Errorf("no Go metrics")
	}
	http.DefaultClient.CloseIdleConnections()
	stop()
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("still listening once stopped")
	}
}
