package remote

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/seed-e1024768/async/internal/signpb"
)

// A signerConn is the engine's side of one signer: a gRPC connection, the streams multiplexed over
// it, and what the engine knows of its health. Each is one address of one
// of Config.Addrs' targets (see resolve.go), and lives from the resolver
// update that names it until a later one leaves it out and it is drained
// (see drain.go), or the engine closes.
type signerConn struct {
	e       *Engine
	tgt     *target // the target it was resolved from; nil for the lobby
	addr    string
	conn    *grpc.ClientConn
	client  signpb.SignerClient
	streams []*stream

	// ctx ends the signer's goroutines: canceled by Close (it is the
	// engine's ctx's child) or once it has left and been drained. wg
	// counts its goroutines (each counted in the engine's wg too).
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	// leaving is set once its target no longer names it: it gets no new
	// requests, and hands those it holds on (see drain).
	leaving   atomic.Bool
	closeOnce sync.Once

	// sick is set while the health check fails; the signer then gets no
	// new requests while another is up.
	sick atomic.Bool

	// refused is set while the last trouble was a certificate refusal.
	refused atomic.Bool
	mu      sync.Mutex
	lastErr error // the last connection, stream or health error
}

// newSignerConn makes the connection to the signer at addr, one address
// that t resolved to, named authority in TLS. It starts nothing.
func newSignerConn(e *Engine, t *target, addr resolver.Address, tlsCfg *tls.Config) (*signerConn, error) {
	conn, err := grpc.NewClient(oneScheme+":///"+addr.Addr,
		// The address as the target's resolver gave it (its ServerName
		// and attributes kept), under the target's authority: the name
		// the signer's certificate must carry, as for a gRPC client of
		// the target itself.
		grpc.WithResolvers(oneAddress{addr: addr, authority: t.authority}),
		grpc.WithTransportCredentials(alertCreds{credentials.NewTLS(tlsCfg)}),
		grpc.WithConnectParams(grpc.ConnectParams{
			// Reconnect soon after a signer comes back: the default
			// backoff starts at 1s and grows to 2 minutes.
			Backoff: backoff.Config{
				BaseDelay: 50 * time.Millisecond, Multiplier: 1.6,
				Jitter: 0.2, MaxDelay: 2 * time.Second,
			},
			MinConnectTimeout: 5 * time.Second,
		}))
	if err != nil {
		return nil, err
	}
	s := &signerConn{e: e, tgt: t, addr: addr.Addr, conn: conn, client: signpb.NewSignerClient(conn)}
	s.ctx, s.stop = context.WithCancel(e.ctx)
	for range e.cfg.StreamsPerServer {
		s.streams = append(s.streams, newStream(s))
	}
	return s, nil
}

// spawn runs f on a goroutine counted by the signer and the engine. The
// engine's count is taken first, so Close's Wait cannot miss it (see
// target.update for why none is spawned after Close begins).
func (s *signerConn) spawn(f func()) {
	s.e.wg.Add(1)
	s.wg.Add(1)
	go func() {
		defer s.e.wg.Done()
		defer s.wg.Done()
		f()
	}()
}

// closeConn closes the signer's connection, once.
func (s *signerConn) closeConn() {
	s.closeOnce.Do(func() {
		if s.conn != nil {
			s.conn.Close()
		}
	})
}

// start starts the signer's stream goroutines and its health checker.
func (s *signerConn) start() {
	for _, st := range s.streams {
		s.spawn(st.run)
	}
	s.spawn(s.healthLoop)
}

// note records err as the signer's latest trouble; a signer in trouble
// asks its target to resolve again, as a gRPC client does when a
// connection fails, in case the signer moved.
func (s *signerConn) note(err error) {
	if err != nil && s.tgt != nil {
		s.tgt.resolveNow()
	}
	r := refusal(err)
	s.mu.Lock()
	if r != nil {
		s.lastErr = r
	} else {
		s.lastErr = err
	}
	s.refused.Store(r != nil)
	s.mu.Unlock()
}

// opened notes that a stream opened: whatever refusal was noted before
// is over.
func (s *signerConn) opened() {
	s.refused.Store(false)
}

// trouble returns the signer's latest error.
func (s *signerConn) trouble() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// up reports whether the signer can take requests now: a stream is open
// and the health check passes.
func (s *signerConn) up() bool {
	if s.sick.Load() {
		return false
	}
	for _, st := range s.streams {
		if st.live.Load() {
			return true
		}
	}
	return false
}

// healthLoop checks the signer's health (grpc.health.v1) every
// HealthInterval. A signer that fails the check (or does not answer within
// the interval) gets no new requests, and its streams are closed, so that
// the requests it holds go to another signer; a signer without the health
// service is taken as healthy. Each round also asks the signer's target
// to resolve again: a resolver that re-resolves only when asked (gRPC's
// DNS resolver, which then does so at most every 30s) finds signers that
// joined.
func (s *signerConn) healthLoop() {
	hc := healthpb.NewHealthClient(s.conn)
	t := time.NewTimer(s.e.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.tgt.resolveNow()
		ctx, cancel := context.WithTimeout(s.ctx, s.e.cfg.HealthInterval)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		switch {
		case s.ctx.Err() != nil:
			return
		case status.Code(err) == codes.Unimplemented:
			s.sick.Store(false)
		case err != nil:
			s.sickened(err)
		case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
			s.sickened(fmt.Errorf("health check: %v", resp.GetStatus()))
		default:
			s.sick.Store(false)
		}
		t.Reset(s.e.cfg.HealthInterval)
	}
}

// sickened marks the signer unhealthy and, the first time, closes its
// streams so that their requests fail over.
func (s *signerConn) sickened(err error) {
	s.note(fmt.Errorf("%s: %w", s.addr, err))
	if s.sick.Swap(true) {
		return
	}
	for _, st := range s.streams {
		st.reset()
	}
}
