//go:build linux

package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/seed-e1024768/async/internal/leaktest"
	"github.com/seed-e1024768/async/loop"
	"github.com/seed-e1024768/async/signer"
)

// The tests of signers found by name (resolve.go, drain.go): targets
// resolved by gRPC's resolvers, gRPC's manual resolver standing in for
// DNS, with in-process signers joining and leaving.

// inProc is a signer served in this process on a free loopback port.
type inProc struct {
	addr string
	srv  *signer.Server
}

// startInProc serves the test deployment with delay until the test ends
// (or stop is called).
func startInProc(t testing.TB, delay time.Duration) *inProc {
	t.Helper()
	_, dir, _ := testSignd(t)
	s, err := signer.New(signer.Config{Dir: dir, Delay: delay, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop(5 * time.Second)
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return &inProc{addr: lis.Addr().String(), srv: s}
}

func (p *inProc) received() uint64 { return p.srv.Stats().Received }

// state is a resolver state of the signers' addresses.
func state(ps ...*inProc) resolver.State {
	var s resolver.State
	for _, p := range ps {
		s.Endpoints = append(s.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{{Addr: p.addr}}})
	}
	return s
}

// addrsOf returns the addresses of the engine's signers that take
// requests, and of every signer it has (draining ones too).
func addrsOf(e *Engine) (taking, all []string) {
	for _, s := range e.current() {
		all = append(all, s.addr)
		if !s.leaving.Load() {
			taking = append(taking, s.addr)
		}
	}
	return taking, all
}

// load signs with unique messages from g goroutines until stop is
// closed, checking each signature; it counts the operations and reports
// every error.
type load struct {
	ops  atomic.Int64
	errs chan error
	stop chan struct{}
	wg   sync.WaitGroup
}

func startLoad(t *testing.T, e *Engine, g int) *load {
	_, dir, _ := testSignd(t)
	kid := keyID(t, dir, "ed25519")
	pub := certOf(t, dir, "ed25519").PublicKey
	l := &load{errs: make(chan error, 100), stop: make(chan struct{})}
	var n atomic.Int64
	for range g {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				msg := msgOf(int(n.Add(1)))
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				sig, err := e.Sign(ctx, kid, Ed25519, msg)
				cancel()
				if err == nil {
					err = verify(t, pub, Ed25519, msg, sig)
				}
				l.ops.Add(1)
				if err != nil {
					select {
					case l.errs <- err:
					default:
					}
				}
			}
		})
	}
	return l
}

// end stops the load and fails t for every error it met.
func (l *load) end(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	close(l.errs)
	for err := range l.errs {
		t.Error("signing under load:", err)
	}
}

// TestResolveJoinLeave: signers found by name (item 5 of "keyless for
// real sites"). Under load from blocking callers and jobs, a target's
// resolver adds a signer and takes two away: the one that joins gets
// requests once the update is in; those that leave are drained, their
// requests in flight answered by them (nothing is sent twice: no
// retries), and get no request after that; every operation is answered
// once, with a signature that verifies.
func TestResolveJoinLeave(t *testing.T) {
	testSignd(t)
	leaktest.Check(t)
	a, b, c := startInProc(t, 5*time.Millisecond), startInProc(t, 5*time.Millisecond), startInProc(t, 5*time.Millisecond)
	r := manual.NewBuilderWithScheme("signers-join")
	r.InitialState(state(a, b))
	closed := make(chan struct{})
	r.CloseCallback = func() { close(closed) }
	// No health checks: on a busy machine one that times out would move
	// requests, and this test counts every send.
	e := dial(t, Config{Addrs: []string{"signers-join:///localhost"}, Resolvers: []resolver.Builder{r}, HealthInterval: time.Hour})
	l := startLoad(t, e, 16)

	waitFor(t, "a and b to sign", func() bool { return a.received() > 50 && b.received() > 50 })
	if c.received() != 0 {
		t.Fatalf("c, not yet resolved to, got %d requests", c.received())
	}

	r.UpdateState(state(a, b, c))
	waitFor(t, "c, once resolved to, to get requests", func() bool { return c.received() > 50 })

	// a and b leave, jobs running too.
	_, dir, _ := testSignd(t)
	kid := keyID(t, dir, "ed25519")
	pub := certOf(t, dir, "ed25519").PublicKey
	const jobs = 600
	jobsDone := make(chan error, 1)
	go func() {
		sigs, errs, err := runJobs(context.Background(), e, loop.ModeCallback, 64, jobs, kid, Ed25519)
		for i, e := range errs {
			if e == nil {
				e = verify(t, pub, Ed25519, msgOf(i), sigs[i])
			}
			err = cmpOr(err, e)
		}
		jobsDone <- err
	}()
	for e.Stats().Answered < 300 {
		time.Sleep(time.Millisecond)
	}
	t0 := time.Now()
	r.UpdateState(state(c))
	waitFor(t, "a and b to be drained", func() bool {
		_, all := addrsOf(e)
		return slices.Equal(all, []string{c.addr})
	})
	t.Logf("a and b drained in %v", time.Since(t0))
	ra, rb, rc := a.received(), b.received(), c.received()
	if err := <-jobsDone; err != nil {
		t.Error("jobs:", err)
	}
	waitFor(t, "more requests for c", func() bool { return c.received() > rc+200 })
	if a.received() != ra || b.received() != rb {
		t.Errorf("drained signers got requests: a %d -> %d, b %d -> %d", ra, a.received(), rb, b.received())
	}
	l.end(t)
	// Every operation sent once, received once, answered once.
	ops := uint64(l.ops.Load()) + jobs
	st := e.Stats()
	if st.Retries != 0 || st.Sent != ops || st.Answered != ops {
		t.Errorf("%d operations, %+v; want each sent and answered once", ops, st)
	}
	if got := a.received() + b.received() + c.received(); got != ops {
		t.Errorf("the signers received %d requests; want %d", got, ops)
	}
	if l.ops.Load() < 200 {
		t.Errorf("only %d operations under load", l.ops.Load())
	}
	e.Close()
	select {
	case <-closed:
	default:
		t.Error("Close did not close the resolver")
	}
}

func cmpOr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// TestResolveDrainMoves: a leaving signer that does not answer within
// the drain's bound has its requests moved to another signer, which
// answers them; its own late answers reach no one.
func TestResolveDrainMoves(t *testing.T) {
	testSignd(t)
	leaktest.Check(t)
	// Restored after the engine's Close (cleanups run last first).
	t.Cleanup(func(d time.Duration) func() { return func() { drainTimeout = d } }(drainTimeout))
	drainTimeout = 100 * time.Millisecond
	slow, fast := startInProc(t, 3*time.Second), startInProc(t, time.Millisecond)
	r := manual.NewBuilderWithScheme("signers-move")
	r.InitialState(state(slow))
	e := dial(t, Config{Addrs: []string{"signers-move:///localhost"}, Resolvers: []resolver.Builder{r}})
	_, dir, _ := testSignd(t)
	kid := keyID(t, dir, "ed25519")

	const n = 8
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		go func() {
			_, err := e.Sign(context.Background(), kid, Ed25519, msgOf(i))
			errs <- err
		}()
	}
	waitFor(t, "the slow signer to hold the requests", func() bool { return slow.received() == n })
	r.UpdateState(state(fast))
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("answered after %v: not moved from the leaving signer", d)
	}
	if got := fast.received(); got != n {
		t.Errorf("the signer that stayed got %d requests; want %d", got, n)
	}
	if st := e.Stats(); st.Retries != n {
		t.Errorf("%d retries; want %d", st.Retries, n)
	}
}

// TestResolveToNothing: while a target resolves to no address, requests
// wait for a signer until their deadline, then fail with ErrUnavailable
// saying so (not at once: a signer may join within the deadline, as one
// does here, and is then used at once; and a resolver's first answer may
// come after New returns).
func TestResolveToNothing(t *testing.T) {
	testSignd(t)
	leaktest.Check(t)
	p := startInProc(t, 0)
	r := manual.NewBuilderWithScheme("signers-none")
	r.InitialState(resolver.State{})
	e := dial(t, Config{Addrs: []string{"signers-none:///localhost"}, Resolvers: []resolver.Builder{r}})
	_, dir, _ := testSignd(t)
	kid := keyID(t, dir, "ed25519")

	const wait = 300 * time.Millisecond
	start := time.Now() // before the deadline is set, which it then cannot precede
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	_, err := e.Sign(ctx, kid, Ed25519, []byte("x"))
	cancel()
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "resolves to no address") {
		t.Errorf("Sign: %v; want ErrUnavailable, the deadline, and that the target resolves to nothing", err)
	}
	if d := time.Since(start); d < wait || d > wait+time.Second {
		t.Errorf("Sign failed after %v; want its deadline, %v", d, wait)
	}
	ctx, cancel = context.WithTimeout(context.Background(), wait)
	_, err = e.PublicKey(ctx, kid)
	cancel()
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("PublicKey: %v; want ErrUnavailable", err)
	}

	// A request given up while it waits for a signer lets go of its
	// slot at once, not at its deadline (10s, Config.Timeout's default).
	start = time.Now()
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := e.Sign(ctx, kid, Ed25519, []byte("z")); !errors.Is(err, context.Canceled) {
		t.Errorf("Sign canceled: %v", err)
	}
	waitFor(t, "the given-up request to free its slot", func() bool { return e.inFlight() == 0 })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a given-up request held its slot for %v", d)
	}

	// Requests waiting for a signer get one as soon as it joins.
	errs := make(chan error, 1)
	go func() {
		_, err := e.Sign(context.Background(), kid, Ed25519, []byte("y"))
		errs <- err
	}()
	waitFor(t, "a request to wait", func() bool { return e.inFlight() == 1 })
	time.Sleep(20 * time.Millisecond)
	r.UpdateState(state(p))
	select {
	case err := <-errs:
		if err != nil {
			t.Error("after the signer joined:", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request that waited for a signer was not sent to the one that joined")
	}
}

// TestResolveDNS: a dns:/// target names a real signer, through gRPC's
// own DNS resolver, and its certificate is checked against the name.
func TestResolveDNS(t *testing.T) {
	testSignd(t)
	leaktest.Check(t)
	p := startInProc(t, 0)
	_, port, _ := net.SplitHostPort(p.addr)
	e := dial(t, Config{Addrs: []string{"dns:///localhost:" + port}})
	_, dir, _ := testSignd(t)
	kid := keyID(t, dir, "ed25519")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sig, err := e.Sign(ctx, kid, Ed25519, payload(Ed25519, msgOf(1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(t, certOf(t, dir, "ed25519").PublicKey, Ed25519, msgOf(1), sig); err != nil {
		t.Fatal(err)
	}
	if taking, _ := addrsOf(e); !slices.Contains(taking, p.addr) {
		t.Errorf("signers %v; want %s among them", taking, p.addr)
	}
}

// TestResolveAuthority: a signer found by name must have a certificate
// for the name, not merely for its address: a target named
// wrong.invalid resolving to a good signer's address is refused.
func TestResolveAuthority(t *testing.T) {
	testSignd(t)
	leaktest.Check(t)
	p := startInProc(t, 0)
	r := manual.NewBuilderWithScheme("signers-name")
	r.InitialState(state(p))
	e := dial(t, Config{Addrs: []string{"signers-name:///wrong.invalid:7443"}, Resolvers: []resolver.Builder{r}})
	_, dir, _ := testSignd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.Sign(ctx, keyID(t, dir, "ed25519"), Ed25519, payload(Ed25519, msgOf(1))); !errors.Is(err, ErrRefused) {
		t.Errorf("Sign: %v; want ErrRefused", err)
	}
}

// TestResolveBadConfig: a target whose scheme no resolver has, or whose
// resolver refuses it, is ErrBadConfig, and New starts nothing; a mix of
// plain addresses and targets is fine.
func TestResolveBadConfig(t *testing.T) {
	testSignd(t)
	leaktest.Check(t)
	_, dir, _ := testSignd(t)
	tlsCfg := clientTLS(t, dir)
	for _, addrs := range [][]string{
		{"nosuch:///signers"},
		{"127.0.0.1:1", "dns:///bad:port:x"},
	} {
		if e, err := New(Config{Addrs: addrs, TLS: tlsCfg}); !errors.Is(err, ErrBadConfig) {
			t.Errorf("New(%q): %v; want ErrBadConfig", addrs, err)
			if e != nil {
				e.Close()
			}
		}
	}
	if _, err := New(Config{Addrs: []string{"127.0.0.1:1"}, TLS: tlsCfg, Resolvers: []resolver.Builder{nil}}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("New with a nil resolver: %v; want ErrBadConfig", err)
	}
	p := startInProc(t, 0)
	e := dial(t, Config{Addrs: []string{"127.0.0.1:1", "passthrough:///" + p.addr, "dns:///" + p.addr}})
	if taking, _ := addrsOf(e); !slices.Equal(taking, []string{"127.0.0.1:1", p.addr, p.addr}) {
		t.Errorf("signers %q", taking)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.Sign(ctx, keyID(t, dir, "ed25519"), Ed25519, payload(Ed25519, msgOf(1))); err != nil {
		t.Error(err)
	}
}

// TestResolveUnix: a unix:// target reaches a signer on a Unix socket:
// the address keeps what its resolver says of it (its network), and the
// authority is the resolver's ("localhost").
func TestResolveUnix(t *testing.T) {
	_, dir, _ := testSignd(t)
	leaktest.Check(t)
	s, err := signer.New(signer.Config{Dir: dir, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	sock := t.TempDir() + "/signer.sock"
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop(5 * time.Second)
		<-served
	})
	e := dial(t, Config{Addrs: []string{"unix://" + sock}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.Sign(ctx, keyID(t, dir, "ed25519"), Ed25519, payload(Ed25519, msgOf(1))); err != nil {
		t.Fatal(err)
	}
}

// TestResolveBound: a target resolving to more addresses than
// maxTargetSigners gets that many signers, not one per address, and says
// so when a request finds no signer up. (The bound is lowered for the
// test: 256 signers that cannot connect cost a busy machine seconds.)
func TestResolveBound(t *testing.T) {
	testSignd(t)
	leaktest.Check(t)
	t.Cleanup(func(n int) func() { return func() { maxTargetSigners = n } }(maxTargetSigners))
	maxTargetSigners = 4
	var st resolver.State
	for i := range maxTargetSigners + 3 {
		st.Addresses = append(st.Addresses, resolver.Address{Addr: fmt.Sprintf("127.0.0.%d:1", 1+i)})
	}
	r := manual.NewBuilderWithScheme("signers-many")
	r.InitialState(st)
	e := dial(t, Config{Addrs: []string{"signers-many:///localhost"}, Resolvers: []resolver.Builder{r}, StreamsPerServer: 1})
	if n := len(e.current()); n != maxTargetSigners {
		t.Errorf("%d signers; want %d", n, maxTargetSigners)
	}
	if err := e.lobby.srv.trouble(); err == nil || !strings.Contains(err.Error(), "the rest are not used") {
		t.Errorf("trouble noted: %v", err)
	}
}

// TestResolveUpdateDuringClose: resolver updates racing Close, signers
// joining and leaving all the while, leave no goroutine behind: no
// signer starts once Close has begun, and updates after it are refused.
func TestResolveUpdateDuringClose(t *testing.T) {
	_, dir, _ := testSignd(t)
	leaktest.Check(t)
	a, b := startInProc(t, 0), startInProc(t, 0)
	kid := keyID(t, dir, "ed25519")
	for round := range 3 {
		r := manual.NewBuilderWithScheme(fmt.Sprintf("signers-race%d", round))
		r.InitialState(state(a))
		e, err := New(Config{Addrs: []string{r.Scheme() + ":///localhost"}, Resolvers: []resolver.Builder{r}, TLS: clientTLS(t, dir)})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r.UpdateState([]resolver.State{state(a), state(a, b), state(b), {}}[i%4])
				time.Sleep(time.Millisecond)
			}
		})
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				e.Sign(ctx, kid, Ed25519, []byte("x"))
				cancel()
			}
		})
		time.Sleep(200 * time.Millisecond)
		if err := e.Close(); err != nil {
			t.Error(err)
		}
		time.Sleep(20 * time.Millisecond) // updates after Close
		close(stop)
		wg.Wait()
		if _, err := e.Sign(context.Background(), kid, Ed25519, []byte("x")); !errors.Is(err, ErrClosed) {
			t.Errorf("Sign after Close: %v", err)
		}
	}
}
