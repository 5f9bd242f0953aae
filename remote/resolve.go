package remote

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// Finding signers: each entry of Config.Addrs is a gRPC target, resolved
// by the resolver gRPC has for its scheme (or one of Config.Resolvers),
// and each address it resolves to is a signer, with a connection and
// streams of its own. The resolver tells its target (the
// resolver.ClientConn it was built with) of every new set of addresses;
// the target starts the signers that joined and drains those that left
// (drain.go).

// A target is one entry of Config.Addrs: its resolver, and the signers
// its latest addresses are.
type target struct {
	e         *Engine
	name      string // as configured
	authority string // the name a signer's certificate must carry, as for a gRPC client of the target
	tlsCfg    *tls.Config

	// rmu orders the resolver's ResolveNow after Build and before Close.
	rmu    sync.Mutex
	r      resolver.Resolver
	closed bool

	// mu serializes the resolver's updates.
	mu      sync.Mutex
	signers map[addrKey]*signerConn // by address: those not leaving
}

// maxTargetSigners bounds the signers of one target: what a resolver
// (a DNS answer) says is not trusted to set how many connections and
// goroutines the engine keeps. A variable for the tests.
var maxTargetSigners = 256

// addrKey is what tells two resolved addresses apart.
type addrKey struct{ addr, serverName string }

// findResolver returns the resolver.Target and the resolver for name, as
// gRPC finds them: the builder of name's scheme among extra, then among
// those registered with gRPC; a name with no scheme ("host:port") is
// passthrough's: one address, itself. A name that says "scheme://" with
// a scheme no resolver has is an error, where gRPC would take the whole
// name for an address that could never be dialed.
func findResolver(name string, extra []resolver.Builder) (resolver.Target, resolver.Builder, error) {
	if u, err := url.Parse(name); err == nil && u.Scheme != "" {
		if b := builderFor(u.Scheme, extra); b != nil {
			return resolver.Target{URL: *u}, b, nil
		}
		if strings.Contains(name, "://") {
			return resolver.Target{}, nil, fmt.Errorf("no resolver for the scheme %q of %q", u.Scheme, name)
		}
	}
	u, err := url.Parse("passthrough:///" + name)
	if err != nil {
		return resolver.Target{}, nil, err
	}
	b := builderFor("passthrough", extra)
	if b == nil {
		return resolver.Target{}, nil, errors.New("gRPC's passthrough resolver is not registered")
	}
	return resolver.Target{URL: *u}, b, nil
}

func builderFor(scheme string, extra []resolver.Builder) resolver.Builder {
	for _, b := range extra {
		if b.Scheme() == scheme {
			return b
		}
	}
	return resolver.Get(scheme)
}

// addTarget builds the resolver for name. Its first addresses may come
// at once (passthrough's do) or later (DNS's), and so do its signers.
func (e *Engine) addTarget(name string, tlsCfg *tls.Config) error {
	rt, b, err := findResolver(name, e.cfg.Resolvers)
	if err != nil {
		return err
	}
	t := &target{e: e, name: name, authority: rt.Endpoint(), tlsCfg: tlsCfg, signers: map[addrKey]*signerConn{}}
	if o, ok := b.(resolver.AuthorityOverrider); ok {
		t.authority = o.OverrideAuthority(rt)
	}
	e.targets = append(e.targets, t)
	r, err := b.Build(rt, t, resolver.BuildOptions{DisableServiceConfig: true, Authority: t.authority})
	if err != nil {
		return err
	}
	t.rmu.Lock()
	t.r = r
	t.rmu.Unlock()
	return nil
}

// resolveNow asks the target's resolver to resolve again (a hint, which
// gRPC's DNS resolver takes at most every 30s).
func (t *target) resolveNow() {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	if t.r != nil && !t.closed {
		t.r.ResolveNow(resolver.ResolveNowOptions{})
	}
}

// close closes the target's resolver: no update comes after it returns.
func (t *target) close() {
	t.rmu.Lock()
	defer t.rmu.Unlock()
	if t.r != nil && !t.closed {
		t.r.Close()
	}
	t.closed = true
}

// UpdateState takes the target's latest addresses from its resolver. A
// state with none is an error, so that the resolver tries again (DNS's,
// with backoff); the target's signers leave meanwhile.
func (t *target) UpdateState(s resolver.State) error {
	addrs := s.Addresses
	if len(s.Endpoints) > 0 {
		addrs = nil
		for _, ep := range s.Endpoints {
			addrs = append(addrs, ep.Addresses...)
		}
	}
	n, err := t.update(addrs)
	if err != nil {
		t.e.lobby.srv.note(err)
		return err
	}
	if n == 0 {
		err := fmt.Errorf("remote: %s resolves to no address", t.name)
		t.e.lobby.srv.note(err)
		return err
	}
	return nil
}

// ReportError notes the resolver's trouble: the target keeps the signers
// it has, and requests that wait for a signer fail with it at their
// deadline.
func (t *target) ReportError(err error) {
	t.e.lobby.srv.note(fmt.Errorf("remote: resolving %s: %w", t.name, err))
}

// NewAddress is UpdateState of a resolver that predates it.
func (t *target) NewAddress(addrs []resolver.Address) {
	t.UpdateState(resolver.State{Addresses: addrs})
}

// ParseServiceConfig: service configs choose gRPC's balancing, which the
// engine does itself; they are not asked for, and ignored if sent.
func (t *target) ParseServiceConfig(string) *serviceconfig.ParseResult {
	return &serviceconfig.ParseResult{Err: errors.New("remote: service configs are not used")}
}

// update makes addrs the target's signers: it starts one for each new
// address, and lets those of the addresses gone leave. It holds the
// engine's lock shared, as a dispatch does, so that no signer is started
// once Close has begun (Close takes it exclusively to mark the engine
// closed, then closes the resolvers, then waits for the goroutines). It
// returns how many signers the target has now.
func (t *target) update(addrs []resolver.Address) (int, error) {
	e := t.e
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed.Load() {
		return 0, ErrClosed
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	next := make(map[addrKey]*signerConn, len(addrs))
	var added, gone []*signerConn
	var errs []error
	for _, a := range addrs {
		k := addrKey{a.Addr, a.ServerName}
		if _, ok := next[k]; ok || a.Addr == "" {
			continue
		}
		if len(next) == maxTargetSigners {
			errs = append(errs, fmt.Errorf("remote: %s resolves to more than %d addresses: the rest are not used", t.name, maxTargetSigners))
			break
		}
		if s, ok := t.signers[k]; ok {
			next[k] = s
			continue
		}
		s, err := newSignerConn(e, t, a, t.tlsCfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("remote: %s: %s: %w", t.name, a.Addr, err))
			continue
		}
		next[k] = s
		added = append(added, s)
	}
	for k, s := range t.signers {
		if next[k] == nil {
			gone = append(gone, s)
		}
	}
	t.signers = next
	e.join(added)
	for _, s := range added {
		s.start()
	}
	for _, s := range gone {
		s.leave()
	}
	return len(next), errors.Join(errs...)
}

// current returns the engine's signers: every target's, and those still
// draining. The slice is never changed: a change publishes a new one.
func (e *Engine) current() []*signerConn {
	if p := e.fleet.Load(); p != nil {
		return *p
	}
	return nil
}

// join adds signers to the engine's.
func (e *Engine) join(added []*signerConn) {
	if len(added) == 0 {
		return
	}
	e.fleetMu.Lock()
	defer e.fleetMu.Unlock()
	next := append(slices.Clone(e.current()), added...)
	e.fleet.Store(&next)
}

// drop removes s from the engine's signers.
func (e *Engine) drop(s *signerConn) {
	e.fleetMu.Lock()
	defer e.fleetMu.Unlock()
	next := slices.DeleteFunc(slices.Clone(e.current()), func(o *signerConn) bool { return o == s })
	e.fleet.Store(&next)
}

// hasSigners reports whether any signer takes requests.
func (e *Engine) hasSigners() bool {
	for _, s := range e.current() {
		if !s.leaving.Load() {
			return true
		}
	}
	return false
}

// takers returns the signers that take requests: those not leaving.
func (e *Engine) takers() []*signerConn {
	return slices.DeleteFunc(slices.Clone(e.current()), func(s *signerConn) bool { return s.leaving.Load() })
}

// newLobby makes the stream where requests wait while the engine has no
// signer: before the first addresses come, or while every target
// resolves to none. It never connects; the sweeper ends its requests at
// their deadline (with ErrUnavailable and the resolvers' last trouble)
// and moves them to a signer as soon as one joins (flushLobby).
func (e *Engine) newLobby() *stream {
	s := &signerConn{e: e, addr: "(no signer yet)", ctx: e.ctx}
	st := newStream(s)
	s.streams = []*stream{st}
	return st
}

// flushLobby moves the requests waiting in the lobby to signers, if any
// has joined.
func (e *Engine) flushLobby() {
	if e.lobby.load.Load() == 0 || !e.hasSigners() {
		return
	}
	e.lobby.mu.Lock()
	held := e.lobby.takeAll()
	e.lobby.mu.Unlock()
	each(held, func(r *request) {
		if err := e.place(r, nil); err != nil {
			e.finish(r, nil, err)
		}
	})
}

// closeLobby ends the requests still waiting in the lobby with ErrClosed,
// once the engine's goroutines are gone.
func (e *Engine) closeLobby() {
	e.lobby.mu.Lock()
	e.lobby.exited = true
	held := e.lobby.takeAll()
	e.lobby.mu.Unlock()
	each(held, func(r *request) { e.finish(r, nil, ErrClosed) })
}

// noSigner is the error of an operation that found no signer to ask
// before cause ended it.
func (e *Engine) noSigner(cause error) error {
	if e.closed.Load() {
		return ErrClosed
	}
	return noAnswer(cause, e.lobby.srv.trouble())
}

// oneScheme names the resolver of a signer's own gRPC connection, which
// hands gRPC the one address the signer is.
const oneScheme = "remote-signer"

// oneAddress resolves to addr alone; its authority is the target's.
type oneAddress struct {
	addr      resolver.Address
	authority string
}

func (b oneAddress) Scheme() string { return oneScheme }

func (b oneAddress) OverrideAuthority(resolver.Target) string { return b.authority }

func (b oneAddress) Build(_ resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	if err := cc.UpdateState(resolver.State{Addresses: []resolver.Address{b.addr}}); err != nil {
		return nil, err
	}
	return noResolver{}, nil
}

// noResolver has nothing to resolve again: the target's resolver does.
type noResolver struct{}

func (noResolver) ResolveNow(resolver.ResolveNowOptions) {}
func (noResolver) Close()                                {}
