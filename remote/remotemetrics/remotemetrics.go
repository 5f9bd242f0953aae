// Package remotemetrics makes a remote.Engine's view of its signers a
// prometheus.Collector. It is a package of its own so that package
// remote imports no metrics library: a program that wants Prometheus
// metrics imports this one and registers the engine,
//
//	reg.MustRegister(remotemetrics.New(e))
//
// and a program with another library reads Engine.Stats and
// Engine.Signers as this package does, when it is scraped.
//
// The metrics, read from the engine at each scrape (nothing is added to
// the engine's request path):
//
//	asyncsign_remote_requests_sent_total      requests sent (a request failed over counts again)
//	asyncsign_remote_batches_sent_total       request batches sent
//	asyncsign_remote_answers_total            answers received for requests still waiting
//	asyncsign_remote_resends_total            requests sent again after their signer failed
//	asyncsign_remote_failovers_total          streams that failed holding requests
//	asyncsign_remote_cancels_sent_total       requests the engine asked a signer to drop
//	asyncsign_remote_expired_total            requests ended by their ctx or deadline
//	asyncsign_remote_discarded_total          answers that came too late
//	asyncsign_remote_overloaded_total         answers CODE_OVERLOADED (sent again once there was room)
//	asyncsign_remote_denied_total             answers CODE_PERMISSION_DENIED
//	asyncsign_remote_outstanding{signer}      requests queued for or sent to the signer, unanswered
//	asyncsign_remote_signer_up{signer}        1 while the signer takes new requests
//	asyncsign_remote_signer_refused{signer}   1 while the signer refuses this client's certificate
//
// The signer label is the signer's address as Config.Addrs gives it: a
// set the program chose, bounded. For more than one engine in a
// registry, tell them apart with prometheus.WrapRegistererWith.
package remotemetrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-e1024768/async/remote"
)

const prefix = "asyncsign_remote_"

// collector is an engine's metrics.
type collector struct {
	e *remote.Engine
}

var (
	counterDescs = []struct {
		desc *prometheus.Desc
		get  func(remote.Stats) uint64
	}{
		{desc("requests_sent_total", "Requests sent to signers (a request failed over counts again)."), func(s remote.Stats) uint64 { return s.Sent }},
		{desc("batches_sent_total", "Request batches sent."), func(s remote.Stats) uint64 { return s.Batches }},
		{desc("answers_total", "Answers received for requests still waiting for one."), func(s remote.Stats) uint64 { return s.Answered }},
		{desc("resends_total", "Requests sent again after their signer failed."), func(s remote.Stats) uint64 { return s.Retries }},
		{desc("failovers_total", "Streams that failed holding requests, which went to another signer."), func(s remote.Stats) uint64 { return s.Failovers }},
		{desc("cancels_sent_total", "Requests the engine asked a signer to drop."), func(s remote.Stats) uint64 { return s.CancelsSent }},
		{desc("expired_total", "Requests ended by their context or deadline, not by an answer."), func(s remote.Stats) uint64 { return s.Expired }},
		{desc("discarded_total", "Answers dropped: late, for a request already ended or moved."), func(s remote.Stats) uint64 { return s.Discarded }},
		{desc("overloaded_total", "Answers CODE_OVERLOADED: requests sent again once there was room."), func(s remote.Stats) uint64 { return s.Overloaded }},
		{desc("denied_total", "Answers CODE_PERMISSION_DENIED: keys the signers' policy does not let this client use."), func(s remote.Stats) uint64 { return s.Denied }},
	}
	outstandingDesc = prometheus.NewDesc(prefix+"outstanding", "Requests queued for or sent to the signer and not yet answered.", []string{"signer"}, nil)
	upDesc          = prometheus.NewDesc(prefix+"signer_up", "1 while the signer takes new requests (a stream open, the health check passing).", []string{"signer"}, nil)
	refusedDesc     = prometheus.NewDesc(prefix+"signer_refused", "1 while the signer's last trouble is a refusal of this client's certificate.", []string{"signer"}, nil)
)

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prefix+name, help, nil, nil)
}

// New returns a Collector of e's metrics (see the package doc), read from
// e each time it is collected. Register it once per engine.
func New(e *remote.Engine) prometheus.Collector {
	return collector{e}
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range counterDescs {
		ch <- d.desc
	}
	ch <- outstandingDesc
	ch <- upDesc
	ch <- refusedDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.Stats()
	for _, d := range counterDescs {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.get(s)))
	}
	seen := map[string]int{}
	for _, sg := range c.e.Signers() {
		label := sg.Addr
		// An address listed twice is two signers to the engine: keep
		// their series apart.
		if seen[sg.Addr]++; seen[sg.Addr] > 1 {
			label += "#" + strconv.Itoa(seen[sg.Addr])
		}
		ch <- prometheus.MustNewConstMetric(outstandingDesc, prometheus.GaugeValue, float64(sg.Outstanding), label)
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, bool01(sg.Up), label)
		ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.GaugeValue, bool01(sg.Refused), label)
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
