package remote

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/seed-e1024768/async/internal/signpb"
)

// A signerConn is the engine's side of one signer: a gRPC connection, the streams multiplexed over
// it, and what the engine knows of its health.
type signerConn struct {
	e       *Engine
	idx     int
	addr    string
	conn    *grpc.ClientConn
	client  signpb.SignerClient
	streams []*stream

	// sick is set while the health check fails; the signer then gets no
	// new requests while another is up.
	sick atomic.Bool

	// refused is set while the last trouble was a certificate refusal.
	refused atomic.Bool
	mu      sync.Mutex
	lastErr error // the last connection, stream or health error
}

func newSignerConn(e *Engine, idx int, addr string, tlsCfg *tls.Config) (*signerConn, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr,
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
	s := &signerConn{e: e, idx: idx, addr: addr, conn: conn, client: signpb.NewSignerClient(conn)}
	for range e.cfg.StreamsPerServer {
		s.streams = append(s.streams, newStream(s))
	}
	return s, nil
}

// start starts the signer's stream goroutines and its health checker.
func (s *signerConn) start() {
	for _, st := range s.streams {
		s.e.wg.Add(1)
		go st.run()
	}
	s.e.wg.Add(1)
	go s.healthLoop()
}

// note records err as the signer's latest trouble.
func (s *signerConn) note(err error) {
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
// service is taken as healthy.
func (s *signerConn) healthLoop() {
	defer s.e.wg.Done()
	hc := healthpb.NewHealthClient(s.conn)
	t := time.NewTimer(s.e.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-s.e.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.e.ctx, s.e.cfg.HealthInterval)
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		switch {
		case s.e.ctx.Err() != nil:
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

var errNoServer = errors.New("no signer")
