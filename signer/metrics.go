package signer

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// The server's metrics (see Config.Metrics, and "Metrics and logs" in
// the package doc). Every label takes its values from a fixed set, made
// when the server is: the wire's codes, the key types below, the reasons
// a client is refused. Nothing a client chooses becomes a label: a
// request's ID, key ID or client name would make a series of each.
//
// The request path pays a map lookup (its key's type), a few atomic
// additions to counters of its own shard (see metrics_shard.go) and two
// readings of the monotonic clock per request, no allocation (see
// BenchmarkObserveRequest); the other counters are made once, here, and
// the gauges read when the metrics are collected.

// keyType is a key's type as the metrics label it; keyUnknown for a
// request whose key the server does not hold.
type keyType uint8

const (
	keyUnknown keyType = iota
	keyECDSAP256
	keyECDSAP384
	keyECDSAP521
	keyRSA2048
	keyRSA3072
	keyRSA4096
	keyRSAOther
	keyEd25519
	numKeyTypes
)

// keyTypeNames are the values of the key_type label.
var keyTypeNames = [numKeyTypes]string{
	keyUnknown:   "unknown",
	keyECDSAP256: "ecdsa_p256",
	keyECDSAP384: "ecdsa_p384",
	keyECDSAP521: "ecdsa_p521",
	keyRSA2048:   "rsa2048",
	keyRSA3072:   "rsa3072",
	keyRSA4096:   "rsa4096",
	keyRSAOther:  "rsa_other",
	keyEd25519:   "ed25519",
}

// typeOf returns k's type, from its family and size.
func typeOf(k *key) keyType {
	if k == nil {
		return keyUnknown
	}
	switch k.family {
	case famECDSA:
		switch k.bits {
		case 256:
			return keyECDSAP256
		case 384:
			return keyECDSAP384
		case 521:
			return keyECDSAP521
		}
	case famEd25519:
		return keyEd25519
	case famRSA:
		switch k.bits {
		case 2048:
			return keyRSA2048
		case 3072:
			return keyRSA3072
		case 4096:
			return keyRSA4096
		}
		return keyRSAOther
	}
	return keyUnknown
}

// numCodes bounds the wire's codes the metrics know; a code past it (a
// newer wire's) is counted as "other".
const numCodes = int(pb.Code_CODE_PERMISSION_DENIED) + 2

// codeName returns the code label of wire code c: its name, lowercase,
// without the CODE_ prefix ("ok", "overloaded", "permission_denied").
func codeName(c int) string {
	if c >= numCodes-1 {
		return "other"
	}
	return strings.ToLower(strings.TrimPrefix(pb.Code(c).String(), "CODE_"))
}

// refusal is why a client was refused, the reason label of
// asyncsignd_clients_refused_total.
type refusal uint8

const (
	// refusedConns: no room at all, every connection authenticated and
	// Config.MaxConns of them open.
	refusedConns refusal = iota
	// refusedEvicted: a connection still handshaking closed to make
	// room for a newer one (Config.MaxHandshakes, Config.MaxConns).
	refusedEvicted
	// refusedClientConns: a client over Config.MaxConnsPerClient.
	refusedClientConns
	// refusedHandshake: a TLS handshake or HTTP/2 preface that failed
	// or took too long (a certificate the client CA did not issue, a
	// port scan, Config.HandshakeTimeout).
	refusedHandshake
	// refusedDenied: a request the policy does not allow its client.
	refusedDenied
	numRefusals
)

var refusalNames = [numRefusals]string{
	refusedConns:       "max_conns",
	refusedEvicted:     "handshake_evicted",
	refusedClientConns: "max_conns_per_client",
	refusedHandshake:   "handshake_failed",
	refusedDenied:      "denied",
}

// metrics are a server's Prometheus metrics: one Collector, registered
// once.
type metrics struct {
	hot      shards // the request path's
	refused  [numRefusals]prometheus.Counter
	reloads  prometheus.Counter
	failures prometheus.Counter

	all []prometheus.Collector
}

// newMetrics makes the metrics of s.
func newMetrics(s *Server) *metrics {
	m := &metrics{}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "asyncsignd_clients_refused_total",
		Help: "Connections and requests refused, by reason: max_conns, handshake_evicted, max_conns_per_client, handshake_failed, denied (by the policy).",
	}, []string{"reason"})
	for r := range numRefusals {
		m.refused[r] = refused.WithLabelValues(refusalNames[r])
	}
	m.reloads = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "asyncsignd_reloads_total",
		Help: "Reloads of the configuration tried (SIGHUP, Server.Reload), failed ones included.",
	})
	m.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "asyncsignd_reload_failures_total",
		Help: "Reloads that failed, leaving the configuration before them in force.",
	})
	gauge := func(name, help string, labels prometheus.Labels, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	m.all = []prometheus.Collector{
		newHotCollector(&m.hot), refused, m.reloads, m.failures,
		gauge("asyncsignd_requests_queued", "Requests waiting for a worker.", nil,
			func() float64 { return float64(s.q.len()) }),
		gauge("asyncsignd_connections_open", "Connections open, by state.", prometheus.Labels{"state": "handshaking"},
			func() float64 { _, h, _ := s.conns.counts(""); return float64(h) }),
		gauge("asyncsignd_connections_open", "Connections open, by state.", prometheus.Labels{"state": "authenticated"},
			func() float64 { t, h, _ := s.conns.counts(""); return float64(t - h) }),
		gauge("asyncsignd_streams_open", "RPCs running: Sign streams and calls (health watches aside).", nil,
			func() float64 { return float64(s.activeRPCs()) }),
		gauge("asyncsignd_memory_held_bytes", "Bytes held for clients' requests and unsent answers (bounded by Config.MaxMemory).", nil,
			func() float64 { return float64(s.budget.total.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "asyncsignd_batches_received_total", Help: "Request batches received."},
			func() float64 { return float64(s.counters.batchesIn.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "asyncsignd_batches_sent_total", Help: "Result batches sent."},
			func() float64 { return float64(s.counters.batchesOut.Load()) }),
	}
	return m
}

// Describe and Collect make the metrics one prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.all {
		c.Describe(ch)
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.all {
		c.Collect(ch)
	}
}

// len returns the ops waiting in q for a worker.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n + q.ready
}

// activeRPCs returns the RPCs running, health watches aside.
func (s *Server) activeRPCs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active
}
