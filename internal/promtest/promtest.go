// Package promtest reads Prometheus metrics in tests: from a registry, or
// from the text a /metrics endpoint serves, into a map from each sample's
// name and labels, as the text format writes them, to its value.
package promtest

import (
	"bufio"
	"io"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Scrape gathers reg as its /metrics endpoint would serve it, and parses
// that.
func Scrape(t testing.TB, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return Parse(t, rec.Body)
}

// Parse parses the text exposition format: each sample's line, by its
// name and labels (e.g. `asyncsignd_requests_total{code="ok"}`). A line
// that does not parse fails t.
func Parse(t testing.TB, r io.Reader) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the metrics: %v", err)
	}
	return out
}
