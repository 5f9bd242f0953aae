package signer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// What gRPC itself holds for a connection, outside Config's bounds in
// bytes, is bounded by these settings (see ConnectionBytes).
const (
	// MaxRecvMsgSize is the largest gRPC message the server accepts:
	// room for a batch of fifteen requests of MaxMessage bytes, or
	// about 9,000 of SHA-256 digests. A larger one ends its stream
	// (ResourceExhausted) before it is read: a client splits its
	// batches by size too. What a message being read costs is paid
	// for from its client's and the server's bounds before it is read
	// (see Memory in the package doc).
	MaxRecvMsgSize = 1 << 20
	// MaxStreams is the most streams (Sign streams and calls) a client
	// connection may have open at once; more wait, in the client, for
	// a turn. Unary calls take one each: 64 lets a client keep 64 in
	// flight on one connection (measured at a 5 ms delay, 16 streams
	// cut a connection's SignOne calls from about 6,500 to 2,000 a
	// second).
	MaxStreams = 64
	// StreamWindow is the HTTP/2 flow-control window of each stream:
	// what a client may send on a stream before the server reads it,
	// and what a stream waiting for room to read costs. Fixed, so that
	// gRPC does not grow it (to 16 MiB, with its bandwidth-delay
	// estimate); gRPC lets no less (64 KiB). A message being read is
	// let in whole, once paid for.
	StreamWindow = 64 << 10
	// connWindow is the connection's window, every stream's share.
	connWindow = MaxStreams * StreamWindow
	// ioBuffer is the size of the connection's read and write buffers.
	ioBuffer = 32 << 10
	// connFixed is what else a connection holds, as estimated: TLS's
	// record buffers (a record of 16 KiB each way), the HTTP/2 framer's
	// frame buffer (16 KiB), the HPACK tables (4 KiB each way), and
	// gRPC's state of each stream (about 2 KiB).
	connFixed = 64<<10 + MaxStreams*(2<<10)
	// ConnectionBytes bounds what one client connection can make gRPC
	// hold outside Config's bounds in bytes: on each of its MaxStreams
	// streams a window of data not yet read, the connection's buffers,
	// and connFixed. About 4.25 MiB: MaxConnsPerClient times this is
	// what a client's connections may cost on top of
	// Config.ClientMemory, MaxConns times this on top of
	// Config.MaxMemory.
	ConnectionBytes = MaxStreams*StreamWindow + 2*ioBuffer + connFixed
	// HandshakeBytes bounds what a connection still in its TLS
	// handshake holds (its records, the peer's certificates, the
	// handshake's state): MaxHandshakes times this, on top.
	HandshakeBytes = 64 << 10
)

// Config configures a Server.
type Config struct {
	// Dir is the deployment directory (see Init). The server reads its
	// TLS identity (server.pem, server-key.pem), the CA its clients'
	// certificates must come from (client-ca.pem), and, unless Keys is
	// set, its keys (keys/*.key).
	Dir string
	// Keys is where the signing keys come from; nil means the key files
	// of the deployment, DirKeys(Dir/keys).
	Keys KeyStore
	// Authorizer decides which keys each client may use; nil means the
	// deployment's policy file, Dir/policy.json (see Policy), read again
	// on each Reload, or, while there is none, that every authenticated
	// client may use every key.
	Authorizer Authorizer
	// Delay is the latency the signer stands for, as a round trip to a
	// distant key: a request waits Delay/2 before a worker may take it
	// (a cancel drops it meanwhile), and its answer waits until Delay
	// after the request arrived, so that no answer leaves sooner (answers
	// to cancels, and to requests refused at once, excepted). Signing
	// within the delay, not after it, is what a remote key does, and
	// keeps the workers' time out of the latency.
	Delay time.Duration
	// Workers is the number of signing workers; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int

	// The bounds on connections (see conns.go); 0 means the default.
	//
	// HandshakeTimeout bounds a new connection's TLS handshake and
	// HTTP/2 preface: DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxConns bounds the connections open at once:
	// DefaultMaxConns, or half the process's open-file limit if that is
	// less. New refuses more than the limit leaves room for.
	MaxConns int
	// MaxHandshakes bounds the connections not yet authenticated; a new
	// one over it closes the oldest: DefaultMaxHandshakes.
	MaxHandshakes int
	// MaxConnsPerClient bounds a client identity's connections; one
	// over it is closed after its handshake: DefaultMaxConnsPerClient.
	MaxConnsPerClient int
	// IdleTimeout closes a connection with no RPC for that long (its
	// client reconnects when it needs to): DefaultIdleTimeout.
	IdleTimeout time.Duration

	// MaxMemory bounds the bytes the server holds for every client's
	// requests together (0: DefaultMaxMemory, 512 MiB): requests queued
	// or being signed, each counted as its encoded size and a fixed
	// overhead, and answers not yet sent. A request beyond it is
	// answered CODE_OVERLOADED at once. What a message being read may
	// cost is counted too, from before it is read. (What connections
	// cost on top is ConnectionBytes each.) At least ClientMemory.
	MaxMemory int64
	// ClientMemory is the same bound for each client identity, over all
	// of its streams, calls and connections (0: DefaultClientMemory,
	// 64 MiB). At least MinClientMemory.
	ClientMemory int64

	// Metrics, if not nil, is where the server registers its metrics
	// (see "Metrics and logs" in the package doc); New fails if that
	// fails, as when it holds another server's. Nil: no metrics, at no
	// cost.
	Metrics prometheus.Registerer
	// Logger is where the server logs its connections, reloads and
	// refused clients (see "Metrics and logs"); nil: nowhere.
	Logger *slog.Logger
}

// Server is a signer. Create one with New, run it with Serve, stop it
// with Stop.
type Server struct {
	workers int
	budget  *budget
	base    time.Time // op.due and op.deadline count from here
	q       *queue    // requests waiting to be signed
	held    *queue    // answers waiting for their request's Delay to pass
	hold    time.Duration
	grpc    *grpc.Server
	health  *health.Server
	conns   *limiter
	obs     *observer // nil: no metrics and no logger

	// What Reload swaps, and what it reads them from.
	ring     atomic.Pointer[keyring]    // the keys, and who may use them
	tls      atomic.Pointer[tls.Config] // for new handshakes
	dir      string
	store    KeyStore
	auth     Authorizer
	reloadMu sync.Mutex // one Reload at a time

	counters counters
	draining chan struct{} // closed when Stop begins
	stopped  chan struct{} // closed when Stop is done
	serving  atomic.Bool
	mu       sync.Mutex // orders Serve's start of the workers with Stop; guards:
	active   int        // RPCs running, health watches aside
	// watches is canceled once Stop has begun and only health watches
	// are left: they end then, rather than hold Stop to its timeout.
	watches    context.Context
	endWatches context.CancelFunc
	stopOnce   sync.Once
	wg         sync.WaitGroup // workers and streams' receivers
}

type counters struct {
	received, signed, canceled, expired, failed, batchesIn, batchesOut atomic.Uint64
}

// New reads the deployment in cfg.Dir and the keys of cfg.Keys, and
// returns a server for them, not yet serving. Its errors are those of
// reading the deployment and the keys, each naming its file; and
// ErrNoKeys (no keys), *PermissionError (a private key others may read),
// ErrCAKeyServed (a CA's private key in cfg.Dir), ErrOldDeployment,
// ErrMemoryBounds, and a *PolicyError for a policy file that does not
// parse, which names the file, line and column.
func New(cfg Config) (*Server, error) {
	store := cfg.Keys
	if store == nil {
		store = DirKeys(filepath.Join(cfg.Dir, keysDir))
	}
	loaded, err := load(cfg.Dir, store, cfg.Authorizer)
	if err != nil {
		return nil, err
	}
	cc, err := connConfig(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Delay < 0 {
		return nil, fmt.Errorf("signer: negative delay %v", cfg.Delay)
	}
	if cfg.MaxMemory < 0 || cfg.ClientMemory < 0 {
		return nil, fmt.Errorf("signer: negative memory bound")
	}
	if cfg.MaxMemory == 0 {
		cfg.MaxMemory = DefaultMaxMemory
	}
	if cfg.ClientMemory == 0 {
		cfg.ClientMemory = DefaultClientMemory
	}
	if cfg.ClientMemory < MinClientMemory || cfg.MaxMemory < cfg.ClientMemory {
		return nil, fmt.Errorf("%w: client memory %d, max memory %d; want %d <= client memory <= max memory",
			ErrMemoryBounds, cfg.ClientMemory, cfg.MaxMemory, MinClientMemory)
	}
	base := time.Now()
	s := &Server{
		dir:      cfg.Dir,
		store:    store,
		auth:     cfg.Authorizer,
		workers:  cfg.Workers,
		budget:   newBudget(cfg.MaxMemory, cfg.ClientMemory),
		base:     base,
		q:        newFairQueue(base, cfg.Delay/2, loaded.ring.quantum),
		held:     newQueue(base, 0, true),
		hold:     cfg.Delay - cfg.Delay/2,
		health:   health.NewServer(),
		draining: make(chan struct{}),
		stopped:  make(chan struct{}),
		conns:    newLimiter(cc.MaxConns, cc.MaxHandshakes, cc.MaxConnsPerClient),
	}
	s.apply(loaded)
	s.watches, s.endWatches = context.WithCancel(context.Background())
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	s.grpc = grpc.NewServer(
		grpc.Creds(limitCreds{credentials.NewTLS(s.dynamicTLS()), s.conns}),
		grpc.ConnectionTimeout(cc.HandshakeTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: cc.IdleTimeout}),
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.ForceServerCodecV2(newCodec()),
		grpc.MaxConcurrentStreams(MaxStreams),
		grpc.InitialWindowSize(StreamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.ReadBufferSize(ioBuffer),
		grpc.WriteBufferSize(ioBuffer),
		grpc.WaitForHandlers(true),
		grpc.UnaryInterceptor(s.countUnary),
		grpc.StreamInterceptor(s.countStream),
		// Let clients keep idle connections alive with pings as
		// often as every few seconds, rather than be cut off.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	)
	s.grpc.RegisterService(&signerDesc, service{s: s})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.health.SetServingStatus(pb.Signer_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	if err := s.observe(cfg); err != nil {
		return nil, err
	}
	s.notePolicy(loaded.policy, loaded.unmatched)
	return s, nil
}

// ErrMemoryBounds is returned (wrapped) by New for a ClientMemory below
// MinClientMemory or above MaxMemory.
var ErrMemoryBounds = errors.New("signer: memory bounds do not fit")

// MinClientMemory is the least Config.ClientMemory: room for two of a
// client's streams or calls to read a message of MaxRecvMsgSize at once
// (about twice its size each), so that a client alone always makes
// progress.
const MinClientMemory = 2 * recvReserve

// ErrServing is returned by a second call of Serve.
var ErrServing = errors.New("signer: already serving")

// Serve accepts connections on lis and serves them until Stop, and
// returns nil once Stop is done; or it returns the listener's error (call
// Stop all the same). A server serves one listener, once: a second call
// returns ErrServing.
func (s *Server) Serve(lis net.Listener) error {
	if s.serving.Swap(true) {
		return ErrServing
	}
	// Under mu, so that Stop cannot be waiting for the workers before
	// they are all counted.
	s.mu.Lock()
	if s.isDraining() {
		s.mu.Unlock()
		lis.Close()
		<-s.stopped
		return nil
	}
	for range s.workers {
		s.wg.Add(1)
		go s.work()
	}
	if s.hold > 0 {
		s.wg.Add(1)
		go s.release()
	}
	s.mu.Unlock()
	err := s.grpc.Serve(limitListener{lis, s.conns})
	select {
	case <-s.draining:
		<-s.stopped
		return nil
	default:
		return err
	}
}

// Stop stops the server gracefully: it stops accepting connections,
// answers new requests CODE_UNAVAILABLE (which means only that), and waits for the requests in
// flight to be answered and sent, for at most timeout; then it closes
// every connection and returns once nothing of the server runs. It may
// be called more than once, and before Serve.
func (s *Server) Stop(timeout time.Duration) {
	s.stopOnce.Do(func() {
		s.health.Shutdown() // watchers hear NOT_SERVING
		s.mu.Lock()
		close(s.draining)
		if s.active == 0 {
			s.endWatches()
		}
		s.mu.Unlock()
		done := make(chan struct{})
		go func() {
			s.grpc.GracefulStop()
			close(done)
		}()
		t := time.NewTimer(timeout)
		select {
		case <-done:
		case <-t.C:
			s.grpc.Stop()
			<-done
		}
		t.Stop()
		s.q.close()
		s.held.close()
		s.wg.Wait()
		s.endWatches()
		close(s.stopped)
	})
	<-s.stopped
}

// countUnary and countStream count the RPCs running, so that Stop knows
// when only health watches (which never end by themselves) are left.
func (s *Server) countUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	s.begin()
	defer s.end()
	return h(ctx, req)
}

func (s *Server) countStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if info.FullMethod == healthpb.Health_Watch_FullMethodName {
		ctx, cancel := context.WithCancel(ss.Context())
		defer cancel()
		defer context.AfterFunc(s.watches, cancel)()
		return h(srv, ctxStream{ss, ctx})
	}
	s.begin()
	defer s.end()
	return h(srv, ss)
}

// ctxStream is a stream with a context of its own.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c ctxStream) Context() context.Context { return c.ctx }

func (s *Server) begin() {
	s.mu.Lock()
	s.active++
	s.mu.Unlock()
}

func (s *Server) end() {
	s.mu.Lock()
	if s.active--; s.active == 0 && s.isDraining() {
		s.endWatches()
	}
	s.mu.Unlock()
}

// isDraining reports whether Stop has begun.
func (s *Server) isDraining() bool {
	select {
	case <-s.draining:
		return true
	default:
		return false
	}
}

// KeyIDs returns the IDs of the server's keys, sorted.
func (s *Server) KeyIDs() []string {
	keys := s.ring.Load().keys
	ids := make([]string, 0, len(keys))
	for id := range keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// work is a signing worker.
func (s *Server) work() {
	defer s.wg.Done()
	var spent int64 // cost signed since the worker last yielded
	for {
		o := s.q.pop()
		if o == nil {
			return
		}
		spent += o.cost
		s.run(o)
		// Signing runs for up to milliseconds without a pause; with
		// every core signing, the goroutines that read requests and send
		// answers would wait for the scheduler to preempt a worker (10
		// ms) or to poll the network. When clients share the workers,
		// let them have their turn every yieldCost of signing; a client
		// alone keeps the larger batches that not yielding makes.
		if spent >= yieldCost {
			spent = 0
			if s.budget.connected.Load() > 1 {
				runtime.Gosched()
			}
		}
	}
}

// yieldCost is how much signing a worker does between two yields: about
// 0.8 ms, one RSA-2048 signature or 32 ECDSA ones.
const yieldCost = 128

// run signs o, unless it was canceled or its stream is gone, and hands
// the answer over.
func (s *Server) run(o *op) {
	if !o.state.CompareAndSwap(opQueued, opStarted) {
		o.release() // canceled: already answered
		return
	}
	if o.st != nil && o.st.dead.Load() {
		o.st.drop(o)
		return
	}
	var (
		code pb.Code
		sig  []byte
		msg  string
	)
	kt := s.keyTypeOf(o.req)
	ring := s.ring.Load()
	var denied *key
	if ring != o.ring {
		// A Reload since the request was admitted: authorize it again,
		// so that access taken away ends at once, queue and all.
		denied = deniedKey(ring, o.cl.keysFor(ring), o.req)
	}
	switch {
	// The clock is read only for a deadline (and the metrics).
	case o.deadline != 0 && o.expired(time.Since(s.base)):
		code, msg = pb.Code_CODE_DEADLINE_EXCEEDED, errExpired
	case denied != nil:
		code, msg = pb.Code_CODE_PERMISSION_DENIED, errDenied
		s.noteDenied(o.cl.id, denied.name)
	default:
		start := s.obs.taken(o)
		code, sig, msg = handle(ring.keys, o.req)
		s.obs.signed(start, kt)
	}
	o.answer(code, sig, msg)
	s.count(code, kt)
	if s.hold > 0 {
		o.due += s.hold // Delay after the request arrived
		s.held.pushDue(o)
		return
	}
	s.hand(o)
}

// release hands over each answer once its request's Delay has passed.
func (s *Server) release() {
	defer s.wg.Done()
	for {
		o := s.held.pop()
		if o == nil {
			return
		}
		s.hand(o)
	}
}

// hand gives o's answer to whoever waits for it, and lets go of the
// worker's hold on o.
func (s *Server) hand(o *op) {
	if o.st == nil {
		o.done <- struct{}{}
	} else {
		o.st.deliver(o)
	}
	o.release()
}

// count counts an answer, for a key of type kt.
func (s *Server) count(code pb.Code, kt keyType) {
	s.obs.request(code, kt)
	switch code {
	case pb.Code_CODE_OK:
		s.counters.signed.Add(1)
	case pb.Code_CODE_DEADLINE_EXCEEDED:
		s.counters.expired.Add(1)
	case pb.Code_CODE_CANCELED:
		s.counters.canceled.Add(1)
	default:
		s.counters.failed.Add(1)
	}
}
