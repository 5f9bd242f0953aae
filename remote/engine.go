package remote

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/resolver"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/engine"
)

// Notify says how the engine tells the application that a paused job can
// be resumed: package engine's, the same for every engine of this module,
// paired with the same modes of package loop (ModeFD with NotifyFD,
// ModeCallback with NotifyAuto, ModePoll with NotifyPoll).
type Notify = engine.Notify

const (
	// NotifyAuto calls the WaitCtx's callback if it has one (after setting
	// the status to async.StatusOK), else makes the engine's wait fd
	// readable (on Linux; elsewhere the application polls).
	NotifyAuto = engine.NotifyAuto
	// NotifyFD always uses the wait fd and never calls a callback. It
	// needs Linux.
	NotifyFD = engine.NotifyFD
	// NotifyPoll sets no fd and calls no callback: the application polls
	// by resuming the job, which pauses again until its answer is in.
	NotifyPoll = engine.NotifyPoll
)

// Config configures an Engine. Addrs and TLS are required; the other
// fields have defaults.
type Config struct {
	// Addrs are the signers, each a gRPC target: "host:port" is one
	// signer at that address (gRPC's passthrough); "scheme:///name" is
	// every address the resolver for scheme finds for name, each a signer
	// with its own connection and streams (at most 256 a target): such as
	// "dns:///signers.internal:7443" (gRPC's DNS resolver, one signer per
	// A or AAAA record) or "unix:///run/signer.sock". A signer's
	// certificate must name the target's host (signers.internal), not its
	// address, unless TLS.ServerName says another name. Signers a target
	// resolves to later take requests from then on; those it no longer
	// resolves to are drained: they get no new requests, and those they
	// hold are answered, or after 5s sent to another signer. The engine
	// asks each resolver to resolve again every HealthInterval and when one
	// of its signers fails; gRPC's DNS resolver does so at most every 30
	// seconds. Until a target has resolved, or while every target resolves
	// to no address, requests wait for a signer until their deadline, then
	// fail with ErrUnavailable and the resolver's error. Requests are
	// spread over the signers by least outstanding requests. A scheme no
	// resolver has is ErrBadConfig.
	Addrs []string
	// Resolvers are resolvers for the schemes of Addrs, looked up before
	// those registered with gRPC (resolver.Register: dns, passthrough and
	// unix are), as grpc.WithResolvers does: for a scheme of one's own,
	// or a test's (google.golang.org/grpc/resolver/manual). Each is built
	// once per target of its scheme, and closed by Close.
	Resolvers []resolver.Builder
	// TLS is the client's TLS configuration: its certificate, and the
	// roots that verify the signers' (signer.ClientTLS makes one). The
	// engine uses a copy, with TLS 1.3 as the minimum version.
	TLS *tls.Config
	// MaxInFlight bounds the requests the engine has in flight at once
	// (0: DefaultMaxInFlight). At the bound an operation inside a job sets
	// async.StatusEAGAIN and pauses, and retries when resumed; one outside
	// a job waits for room, or for its ctx.
	MaxInFlight int
	// StreamsPerServer is the number of long-lived streams to each signer
	// that the engine multiplexes requests over (0:
	// DefaultStreamsPerServer).
	StreamsPerServer int
	// Notify says how paused jobs are woken (zero: NotifyAuto).
	Notify Notify
	// AppParks says that the application waits for wait fds by parking its
	// goroutine (package loop does), as offload.Config.AppParks does.
	AppParks bool
	// Timeout bounds an operation whose ctx has no deadline (0:
	// DefaultTimeout): past it the engine gives up on the request and
	// reports context.DeadlineExceeded, wrapped in ErrUnavailable when no
	// signer was reachable, or in ErrOverloaded when the signers had no
	// room for it. A ctx deadline, sooner or later, replaces it.
	// math.MaxInt64 means no bound.
	Timeout time.Duration
	// HealthInterval is the time between two health checks of a signer
	// (0: DefaultHealthInterval).
	HealthInterval time.Duration
	// VerifySignatures makes the engine verify every signature a signer
	// sends against the key's public key before it returns it: Sign then
	// fetches the public key once per key ID (as PublicKey does, which
	// checks that the key has the ID asked for) and keeps it. A signature
	// that does not verify fails the operation with ErrBadSignature.
	// The check costs the caller's goroutine one verification per
	// operation (see the package doc for what that costs).
	VerifySignatures bool
}

// Defaults for the zero fields of Config.
const (
	DefaultMaxInFlight      = 1024
	DefaultStreamsPerServer = 2
	DefaultTimeout          = 10 * time.Second
	DefaultHealthInterval   = time.Second
)

// Engine signs with keys held by remote signers (cmd/asyncsignd), over
// gRPC with mutual TLS. It is safe for use by many goroutines and many jobs
// at once. Its key in a WaitCtx is the *Engine itself.
type Engine struct {
	cfg   Config
	k     *engine.Waker // the contract with the jobs: pausing, waking, callbacks
	ids   atomic.Uint64 // the last request ID used
	slots chan struct{} // one token per request in flight
	stats counters

	// mu orders dispatches against Close: dispatchers hold it shared,
	// Close exclusively, so no request enters a stream once closed is set.
	mu     sync.RWMutex
	closed atomic.Bool
	ctx    context.Context // canceled by Close
	stop   context.CancelFunc

	// busy wakes the sweeper when requests go in flight.
	busy chan struct{}
	// keys are the public keys fetched and checked, by key ID.
	keys keyCache

	wg sync.WaitGroup

	// fleet is the signers of every target, and those still draining,
	// published whole (see current); fleetMu orders its writers.
	fleet   atomic.Pointer[[]*signerConn]
	fleetMu sync.Mutex
	targets []*target // one per Config.Addrs, set by New
	lobby   *stream   // where requests wait while there is no signer
}

// New makes an engine for the signers at cfg.Addrs, and builds their
// targets' resolvers. It does not connect: connections are made in the
// background (which is why it is not called Dial, as gRPC renamed its
// Dial to NewClient), and operations started meanwhile wait for them (up
// to their deadline). A signer that refuses this client's certificate is
// reported by the first operation, with an error wrapping ErrRefused. New
// returns an error wrapping ErrBadConfig for a bad cfg, or a target whose
// resolver cannot be built. Close the engine to release its connections,
// resolvers and goroutines.
func New(cfg Config) (*Engine, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	e := &Engine{
		cfg:   cfg,
		slots: make(chan struct{}, cfg.MaxInFlight),
		ctx:   ctx,
		stop:  stop,
		busy:  make(chan struct{}, 1),
	}
	k, err := engine.New(engine.Config{
		Key:      e,
		Name:     "remote",
		Notify:   cfg.Notify,
		AppParks: cfg.AppParks,
		// An application that polls resumes every job each round, and a
		// goroutine that yields that often keeps Go's scheduler from
		// polling the network, where the answers wait (it polls only when
		// it finds nothing to run): yield now and then only.
		YieldEvery: 64,
		// The sweeper ends the requests whose ctx is done, saying why no
		// answer came in time.
		EndsDone: true,
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("remote: New: %w: %w", ErrBadConfig, err)
	}
	e.k = k
	e.lobby = e.newLobby()
	tlsCfg := cfg.TLS.Clone()
	if tlsCfg.MinVersion < tls.VersionTLS13 {
		tlsCfg.MinVersion = tls.VersionTLS13
	}
	for _, addr := range cfg.Addrs {
		if err := e.addTarget(addr, tlsCfg); err != nil {
			e.Close()
			return nil, fmt.Errorf("remote: New %s: %w: %w", addr, ErrBadConfig, err)
		}
	}
	e.wg.Add(1)
	go e.sweeper()
	return e, nil
}

func (c *Config) fill() error {
	bad := func(why string) error { return fmt.Errorf("remote: New: %s: %w", why, ErrBadConfig) }
	switch {
	case len(c.Addrs) == 0:
		return bad("no address")
	case c.TLS == nil:
		return bad("no TLS config")
	case c.MaxInFlight < 0, c.StreamsPerServer < 0, c.Timeout < 0, c.HealthInterval < 0:
		return bad("negative size or duration")
	case c.Notify < NotifyAuto || c.Notify > NotifyPoll:
		return bad("unknown " + c.Notify.String())
	}
	for _, a := range c.Addrs {
		if a == "" {
			return bad("empty address")
		}
	}
	if slices.Contains(c.Resolvers, nil) {
		return bad("nil resolver")
	}
	c.Addrs = slices.Clone(c.Addrs)
	c.Resolvers = slices.Clone(c.Resolvers)
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.StreamsPerServer == 0 {
		c.StreamsPerServer = DefaultStreamsPerServer
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	return nil
}

// Config returns the engine's configuration, with defaults filled in.
func (e *Engine) Config() Config {
	c := e.cfg
	c.Addrs = slices.Clone(c.Addrs)
	c.Resolvers = slices.Clone(c.Resolvers)
	return c
}

// Close stops the engine: operations in flight and operations started
// from now on return ErrClosed, and Close returns once the engine's
// goroutines have exited, its resolvers and its connections are closed.
// Closing a closed engine returns nil. Wait fds the engine set stay with
// their WaitCtxs, which close them when freed. If a WaitCtx callback
// panicked, Close returns the first such panic as a *PanicError.
func (e *Engine) Close() error {
	e.mu.Lock()
	first := !e.closed.Load()
	e.closed.Store(true)
	e.mu.Unlock()
	if first {
		for _, t := range e.targets { // no signer joins from now on
			t.close()
		}
	}
	e.stop()
	e.wg.Wait()
	if first {
		for _, s := range e.current() {
			s.closeConn()
		}
		e.closeLobby()
		return e.k.Lost()
	}
	return nil
}

// Sign signs payload with the signer's key keyID using alg, and returns
// the signature: for ECDSA and the RSA algorithms payload is a digest of
// alg's hash (Algorithm.Hash); for Ed25519 it is the message. Inside a job the job pauses
// while the request is out; outside one Sign blocks. Either way payload is
// copied first, so the caller may reuse it when Sign returns.
//
// Errors: ErrBadInput (malformed key ID, algorithm or payload; nothing is
// sent), ErrUnknownKey, ErrRefused, ErrUnavailable (no signer reachable
// before the deadline), ErrOverloaded (signers up, but no room for the
// request before its deadline), ErrSigner, ErrBadSignature (with
// Config.VerifySignatures), ErrClosed, ctx's error (ctx done, or a
// deadline the signer saw pass), and inside a job the error of
// async.PauseJob (the job canceled or its pool closed).
func (e *Engine) Sign(ctx context.Context, keyID string, alg Algorithm, payload []byte) ([]byte, error) {
	if err := checkInput(keyID, alg, payload); err != nil {
		return nil, err
	}
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	var pub any
	if e.cfg.VerifySignatures {
		k, err := e.PublicKey(ctx, keyID)
		if err != nil {
			return nil, err
		}
		pub = k
	}
	r := e.getRequest(ctx, keyID, alg, payload)
	d, ok := ctx.Deadline()
	r.expires = e.expiry(monoNow(), d, ok)
	var err error
	if job := async.CurrentJob(ctx); job != nil {
		err = e.k.Await(ctx, job, r)
	} else {
		err = e.block(ctx, r)
	}
	if err != nil {
		return nil, err
	}
	sig, err := r.sig, r.err
	if err == nil && pub != nil {
		err = checkSignature(r, pub, sig)
	}
	engine.Free(r)
	if err != nil {
		return nil, err
	}
	return sig, nil
}

// block runs r for a caller outside a job. On success the caller owns r
// and its results; on error r is released or the engine's.
func (e *Engine) block(ctx context.Context, r *request) error {
	if err := e.waitSlot(ctx); err != nil {
		r.Release()
		return err
	}
	r.Block()
	if err := e.dispatch(r); err != nil {
		e.freeSlot()
		r.Release()
		return err
	}
	select {
	case <-r.Ready():
		r.Take()
		return nil
	case <-ctx.Done():
	}
	if ctx.Err() == context.DeadlineExceeded {
		// The sweeper ends r within a sweep, with the error that says
		// why it had no answer in time (the signer down, or overloaded).
		select {
		case <-r.Ready():
			r.Take()
			return nil
		case <-e.ctx.Done():
		}
	}
	if e.k.GiveUp(r) {
		return e.unansweredError(ctx.Err())
	}
	return nil // answered meanwhile: take the answer
}

// unansweredError is the error of a blocking call whose ctx ended before its
// answer came: ctx's error, and, if it was the deadline and no signer is
// up, ErrUnavailable with a signer's last trouble, as the sweeper reports
// for a request whose own deadline passes.
func (e *Engine) unansweredError(cause error) error {
	if cause != context.DeadlineExceeded {
		return cause
	}
	var last error
	for _, s := range e.current() {
		if s.up() {
			return fmt.Errorf("remote: %w", cause)
		}
		if last == nil {
			last = s.trouble()
		}
	}
	if last == nil {
		return e.noSigner(cause)
	}
	return noAnswer(cause, last)
}
