package signer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// The seams through which the server's logs and metrics learn of what
// happens: one method an event, called by the code where it happens.
// Each is a method of *observer, which is nil when the server has
// neither metrics nor a logger (Config.Metrics and Config.Logger nil):
// then every seam returns at its first line, and the server pays
// nothing more.

// observer notes the server's events in its metrics and its log.
type observer struct {
	m        *metrics // nil: no metrics
	log      *slog.Logger
	base     time.Time // the server's: op.arrived counts from here
	refusals logBucket // rate limit of the lines of refused clients
}

// observe sets up s's metrics and log from cfg, if it asks for either;
// its error is the registerer's.
func (s *Server) observe(cfg Config) error {
	if cfg.Metrics == nil && cfg.Logger == nil {
		return nil
	}
	o := &observer{log: cfg.Logger, base: s.base}
	o.refusals.init(refusalRate, refusalBurst, time.Now)
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	s.obs = o
	if cfg.Metrics != nil {
		o.m = newMetrics(s)
		if err := cfg.Metrics.Register(o.m); err != nil {
			s.obs = nil
			return fmt.Errorf("signer: registering the metrics: %w", err)
		}
	}
	s.conns.obs = o
	return nil
}

// keyTypeOf returns the type of req's key, for the metrics (keyUnknown
// without them: the lookup is theirs).
func (s *Server) keyTypeOf(req *pb.SignRequest) keyType {
	if s.obs == nil || s.obs.m == nil {
		return keyUnknown
	}
	return typeOf(s.ring.Load().keys[req.GetKeyId()])
}

// request counts an answer with code for a key of type kt.
func (o *observer) request(code pb.Code, kt keyType) {
	if o == nil || o.m == nil {
		return
	}
	o.m.hot.pick().requests[codeIndex(code)][kt].Add(1)
}

// requests counts n answers with code for keys of type kt.
func (o *observer) requests(code pb.Code, kt keyType, n int) {
	if o == nil || o.m == nil {
		return
	}
	o.m.hot.pick().requests[codeIndex(code)][kt].Add(uint64(n))
}

// codeIndex returns the index of code in shard.requests.
func codeIndex(code pb.Code) int {
	if code < 0 || int(code) >= numCodes-1 {
		return numCodes - 1
	}
	return int(code)
}

// arrived stamps ops with their arrival, for the queue wait: one
// reading of the clock for a batch.
func (o *observer) arrived(ops ...*op) {
	if o == nil || o.m == nil || len(ops) == 0 {
		return
	}
	now := time.Since(o.base)
	for _, op := range ops {
		op.arrived = now
	}
}

// taken notes that a worker took op to sign it, and returns when, for
// signed.
func (o *observer) taken(op *op) time.Duration {
	if o == nil || o.m == nil {
		return 0
	}
	now := time.Since(o.base)
	wait := now - op.arrived
	sh := o.m.hot.at(now)
	sh.wait[bucket(waitBounds, wait)].Add(1)
	sh.waitSum.Add(int64(wait))
	sh.signing.Add(1)
	return now
}

// signed notes that the signing that began at start (taken's) is done,
// with a key of type kt.
func (o *observer) signed(start time.Duration, kt keyType) {
	if o == nil || o.m == nil {
		return
	}
	end := time.Since(o.base)
	d := end - start
	sh := o.m.hot.at(end)
	sh.sign[kt][bucket(signBounds, d)].Add(1)
	sh.signSum[kt].Add(int64(d))
	sh.signing.Add(-1)
}

// noteReload is told of each reload: err is nil when it took effect,
// or why the old configuration stays in force.
func (s *Server) noteReload(err error) {
	o := s.obs
	if o == nil {
		return
	}
	if o.m != nil {
		o.m.reloads.Inc()
		if err != nil {
			o.m.failures.Inc()
		}
	}
	if err != nil {
		o.log.Error("reload failed; the configuration before it stays in force", "err", err)
		return
	}
	o.log.Info("reloaded")
}

// noteDenied is told of each request refused by the policy: the client's
// identity and the key's name (both bounded: names the server holds, not
// strings a client chose).
func (s *Server) noteDenied(client, keyName string) {
	s.obs.refused(refusedDenied, client, nil, slog.String("key", keyName))
}

// refused notes a client refused for why: its identity when known, its
// address when known. Its log line is rate-limited (see logBucket).
func (o *observer) refused(why refusal, client string, addr net.Addr, extra ...slog.Attr) {
	if o == nil {
		return
	}
	if o.m != nil {
		o.m.refused[why].Inc()
	}
	if !o.log.Enabled(context.Background(), slog.LevelWarn) {
		return
	}
	ok, suppressed := o.refusals.take()
	if suppressed > 0 {
		o.log.Warn(fmt.Sprintf("%d more refused lines suppressed", suppressed), "suppressed", suppressed)
	}
	if !ok {
		return
	}
	attrs := make([]slog.Attr, 0, 3+len(extra))
	attrs = append(attrs, slog.String("reason", refusalNames[why]))
	if client != "" {
		attrs = append(attrs, slog.String("client", client))
	}
	if addr != nil {
		attrs = append(attrs, slog.String("remote", addr.String()))
	}
	attrs = append(attrs, extra...)
	o.log.LogAttrs(context.Background(), slog.LevelWarn, refusalMessages[why], attrs...)
}

var refusalMessages = [numRefusals]string{
	refusedConns:       "connection refused: too many connections",
	refusedEvicted:     "connection closed while handshaking, to make room for another",
	refusedClientConns: "connection refused: too many connections for this client",
	refusedHandshake:   "handshake failed",
	refusedDenied:      "request denied by the policy",
}

// connOpened notes a connection authenticated as client.
func (o *observer) connOpened(client string, addr net.Addr) {
	if o == nil {
		return
	}
	o.log.Info("connection opened", "client", client, "remote", addrString(addr))
}

// connClosed notes the end of a connection: one that was authenticated
// (opened) as client is logged.
func (o *observer) connClosed(opened bool, client string, addr net.Addr) {
	if o == nil || !opened {
		return
	}
	o.log.Info("connection closed", "client", client, "remote", addrString(addr))
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// handshakeFailed notes a connection whose TLS handshake (or HTTP/2
// preface) failed with err, unless it failed for being closed here
// (evicted, which admit noted, or the server stopping).
func (o *observer) handshakeFailed(raw net.Conn, err error) {
	if o == nil || errors.Is(err, net.ErrClosed) {
		return
	}
	o.refused(refusedHandshake, "", raw.RemoteAddr(), slog.String("err", truncate(err.Error(), 200)))
}

// notAuthenticated notes a connection that limiter.authenticate refused
// with err, unless for being evicted, which admit noted.
func (o *observer) notAuthenticated(err error, client string, addr net.Addr) {
	if o == nil || !errors.Is(err, errTooManyConns) {
		return
	}
	o.refused(refusedClientConns, client, addr)
}

// truncate cuts s to at most n bytes, so that a peer's strings quoted in
// an error cannot make a log line long.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
