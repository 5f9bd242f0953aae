package offload

import (
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/engine"
)

// Notify says how the engine tells the application that a paused job can
// be resumed: package engine's, shared by every engine of this module. The
// event loop of package loop pairs its ModeFD with NotifyFD, ModeCallback
// with NotifyAuto and ModePoll with NotifyPoll.
type Notify = engine.Notify

const (
	// NotifyAuto follows the man page's rule: call the WaitCtx's callback
	// if it has one (after setting the status to async.StatusOK), else make
	// the engine's wait fd readable (on Linux; elsewhere the application
	// polls).
	NotifyAuto = engine.NotifyAuto
	// NotifyFD always uses the wait fd and never calls a callback. It
	// needs Linux.
	NotifyFD = engine.NotifyFD
	// NotifyPoll sets no fd and calls no callback: the application polls by
	// resuming the job, which pauses again until its operation is done.
	NotifyPoll = engine.NotifyPoll
)

// Config configures an Engine. The zero Config is valid. The workers are
// goroutines: they share the processors (GOMAXPROCS) with the application,
// so offloading buys concurrency with the application's other jobs, not
// more CPU.
type Config struct {
	Depth   int    // request ring capacity, at most MaxDepth (0: DefaultDepth)
	Workers int    // worker goroutines, at most MaxWorkers (0: runtime.GOMAXPROCS(0))
	Notify  Notify // how paused jobs are woken (zero: NotifyAuto)
	// AppParks says that the application waits for wait fds by parking
	// its goroutine (package loop does, through Go's netpoller), never by
	// blocking its thread in poll(2) or epoll_wait(2). Then the engine
	// need not yield after each fd-woken submit to get a worker running
	// before the application blocks, and offloading costs less. Leave it
	// false for an application that calls poll itself.
	AppParks bool
}

// Sizes of an Engine.
const (
	// DefaultDepth is the ring capacity used when Config.Depth is 0.
	DefaultDepth = 64
	// MaxDepth is the largest Config.Depth. The ring is allocated up
	// front, 16 bytes a request rounded up to a power of two, so this is
	// 16 MiB; an application with more requests in flight than that is
	// better served by more engines.
	MaxDepth = 1 << 20
	// MaxWorkers is the largest Config.Workers. Workers share the
	// processors with the application, so more than GOMAXPROCS only helps
	// a Do func that blocks; this many is far past that point.
	MaxWorkers = 1 << 12
)

// Engine offloads operations to worker goroutines through a bounded ring.
// It is safe for use by many goroutines and many jobs at once. Its key in a
// WaitCtx (the key its wait fd is set under) is the *Engine itself, so
// FD(e) on a WaitCtx returns the engine's wait fd once one was set.
type Engine struct {
	notify   Notify
	k        *engine.Waker // the contract with the jobs: pausing, waking, callbacks
	appParks bool
	depth    int
	workers  int

	// mu orders puts in ring against Close: submitters hold it shared,
	// Close exclusively, so that no request enters the ring once Close has
	// set closed (the workers drain it and exit when they find it empty).
	// closed is set under mu and read anywhere.
	mu     sync.RWMutex
	closed atomic.Bool
	ring   *ring
	parked atomic.Int32 // workers parked, or about to park, on wake
	// wake holds a token for each wake-up owed to parked workers; Close
	// closes it (under mu, so no submitter sends on it after).
	wake chan struct{}

	wg   sync.WaitGroup
	done chan struct{} // closed once Close has waited for the workers
}

// New starts an engine with cfg.Workers worker goroutines serving a ring of
// cfg.Depth requests. It returns an error wrapping ErrBadConfig for sizes
// that are negative or past MaxDepth or MaxWorkers, or an unknown Notify,
// and for NotifyFD on an OS without wait fds (wrapping
// engine.ErrNoWaitFD too). Close the engine to stop its workers.
func New(cfg Config) (*Engine, error) {
	if cfg.Depth < 0 || cfg.Depth > MaxDepth || cfg.Workers < 0 || cfg.Workers > MaxWorkers ||
		cfg.Notify < NotifyAuto || cfg.Notify > NotifyPoll {
		return nil, fmt.Errorf("offload: New(Depth %d, Workers %d, %v): %w",
			cfg.Depth, cfg.Workers, cfg.Notify, ErrBadConfig)
	}
	if cfg.Depth == 0 {
		cfg.Depth = DefaultDepth
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	e := &Engine{
		notify:   cfg.Notify,
		appParks: cfg.AppParks,
		depth:    cfg.Depth,
		workers:  cfg.Workers,
		ring:     newRing(cfg.Depth),
		wake:     make(chan struct{}, cfg.Workers),
		done:     make(chan struct{}),
	}
	k, err := engine.New(engine.Config{
		Key:      e,
		Name:     "offload",
		Notify:   cfg.Notify,
		AppParks: cfg.AppParks,
		// The results come from workers that need the processor: yield
		// to them on every spurious resume.
		YieldEvery: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("offload: New: %w: %w", ErrBadConfig, err)
	}
	e.k = k
	for range cfg.Workers {
		e.startWorker(nil)
	}
	return e, nil
}

// Config returns the engine's configuration, with defaults filled in.
func (e *Engine) Config() Config {
	return Config{Depth: e.depth, Workers: e.workers, Notify: e.notify, AppParks: e.appParks}
}

// Close stops the engine: operations started from now on return
// ErrClosed, requests still in the ring complete with ErrClosed (their jobs
// are woken as usual), operations already running on a worker finish, and
// Close returns once every worker has exited. Closing a closed engine waits
// for the first Close to finish and returns nil. Wait fds the engine set
// stay with their WaitCtxs, which close them when freed.
//
// Close returns nil, or a *PanicError: the first failure of a WaitCtx
// callback that came too late to be reported by its operation (see
// PanicError).
//
// Close must not be called from a function given to Do, nor from a
// WaitCtx callback (or a job it resumes): those run on a worker, and Close
// would wait for itself.
func (e *Engine) Close() error {
	e.mu.Lock()
	first := !e.closed.Load()
	if first {
		e.closed.Store(true)
		close(e.wake)
	}
	e.mu.Unlock()
	if !first {
		<-e.done
		return nil
	}
	e.wg.Wait()
	close(e.done)
	return e.k.Lost()
}

// SignECDSAP256 signs digest (normally a SHA-256 hash) with the P-256 key
// and returns the ASN.1 DER signature, as ecdsa.SignASN1 does. Inside a job
// it is offloaded; outside one it runs on the caller. ErrBadInput: key is
// nil or not on P-256.
func (e *Engine) SignECDSAP256(ctx context.Context, key *ecdsa.PrivateKey, digest []byte) ([]byte, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("offload: SignECDSAP256: key is nil or not on P-256: %w", ErrBadInput)
	}
	job := async.CurrentJob(ctx)
	if job == nil {
		if err := e.open(ctx); err != nil {
			return nil, err
		}
		return signECDSA(key, digest)
	}
	r := e.getRequest(opECDSA)
	r.ecKey = key
	r.in = append(r.in[:0], digest...)
	return e.output(ctx, job, r)
}

// SignEd25519 signs msg with the Ed25519 key and returns the 64-byte
// signature, as ed25519.Sign does. Inside a job it is offloaded (msg is
// copied first); outside one it runs on the caller. ErrBadInput: the key is
// not ed25519.PrivateKeySize bytes long.
func (e *Engine) SignEd25519(ctx context.Context, key ed25519.PrivateKey, msg []byte) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("offload: SignEd25519: key of %d bytes: %w", len(key), ErrBadInput)
	}
	job := async.CurrentJob(ctx)
	if job == nil {
		if err := e.open(ctx); err != nil {
			return nil, err
		}
		return ed25519.Sign(key, msg), nil
	}
	r := e.getRequest(opEd25519)
	copy(r.edKey[:], key)
	r.in = append(r.in[:0], msg...)
	return e.output(ctx, job, r)
}

// SignRSA2048 signs the SHA-256 digest with the 2048-bit RSA key using
// PKCS #1 v1.5, as rsa.SignPKCS1v15 with crypto.SHA256 does. Inside a job it
// is offloaded; outside one it runs on the caller. ErrBadInput: key is nil
// or not 2048 bits, or digest is not sha256.Size bytes long.
func (e *Engine) SignRSA2048(ctx context.Context, key *rsa.PrivateKey, digest []byte) ([]byte, error) {
	if key == nil || key.N == nil || key.N.BitLen() != 2048 {
		return nil, fmt.Errorf("offload: SignRSA2048: key is nil or not 2048 bits: %w", ErrBadInput)
	}
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("offload: SignRSA2048: digest of %d bytes: %w", len(digest), ErrBadInput)
	}
	job := async.CurrentJob(ctx)
	if job == nil {
		if err := e.open(ctx); err != nil {
			return nil, err
		}
		return signRSA(key, digest)
	}
	r := e.getRequest(opRSA)
	r.rsaKey = key
	r.in = append(r.in[:0], digest...)
	return e.output(ctx, job, r)
}

// SHA256 returns the SHA-256 digest of data. Inside a job it is offloaded
// (data is copied first); outside one it runs on the caller.
func (e *Engine) SHA256(ctx context.Context, data []byte) ([32]byte, error) {
	job := async.CurrentJob(ctx)
	if job == nil {
		if err := e.open(ctx); err != nil {
			return [32]byte{}, err
		}
		return sha256.Sum256(data), nil
	}
	r := e.getRequest(opSHA256)
	r.in = append(r.in[:0], data...)
	if err := e.await(ctx, job, r); err != nil {
		return [32]byte{}, err
	}
	sum, err := r.sum, r.err
	r.free()
	return sum, err
}

// SealAESGCM seals plaintext with aead (AES-128-GCM from cipher.NewGCM over
// a 16-byte AES key, though any AEAD works), appends the result to dst and
// returns the extended slice, as aead.Seal(dst, nonce, plaintext, ad)
// does; plaintext[:0] may be passed as dst to encrypt in place. Inside a
// job it is offloaded: the inputs are copied, the worker seals into a
// buffer of the engine's, and the result is appended to dst when the job
// resumes, so dst is never written after a canceled call returns. Outside
// a job it runs on the caller. ErrBadInput: aead is nil or nonce is not
// aead.NonceSize() bytes long.
func (e *Engine) SealAESGCM(ctx context.Context, aead cipher.AEAD, dst, nonce, plaintext, ad []byte) ([]byte, error) {
	if aead == nil || len(nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("offload: SealAESGCM: nil AEAD or bad nonce size: %w", ErrBadInput)
	}
	job := async.CurrentJob(ctx)
	if job == nil {
		if err := e.open(ctx); err != nil {
			return nil, err
		}
		return aead.Seal(dst, nonce, plaintext, ad), nil
	}
	r := e.getRequest(opSeal)
	r.aead = aead
	r.in = append(r.in[:0], plaintext...)
	r.nonce = append(r.nonce[:0], nonce...)
	r.ad = append(r.ad[:0], ad...)
	if err := e.await(ctx, job, r); err != nil {
		return nil, err
	}
	if r.err != nil {
		err := r.err
		r.free()
		return nil, err
	}
	dst = append(dst, r.out...)
	r.free()
	return dst, nil
}

// Do runs fn. Inside a job it runs fn on a worker while the job is paused,
// which is what an engine does with work of its own; outside a job it calls
// fn on the caller. With an empty fn it measures the cost of offloading
// itself. If fn panics, the panic is raised again in the caller (inside a
// job, where the async.Pool reports it as an *async.PanicError). If fn
// calls runtime.Goexit on a worker, Do returns a *PanicError whose Value is
// ErrGoexit, and a new worker replaces the one that exited; outside a job,
// Goexit ends the caller's goroutine, as it would without the engine.
//
// If the job is canceled or its pool closed while fn is queued, fn is never
// called; if fn is already running, Do returns at once anyway and fn runs
// to its end on the worker, so fn must not touch state that the caller
// reuses once Do has returned. fn must not call Close. ErrBadInput: fn is
// nil.
func (e *Engine) Do(ctx context.Context, fn func()) error {
	if fn == nil {
		return fmt.Errorf("offload: Do: nil func: %w", ErrBadInput)
	}
	job := async.CurrentJob(ctx)
	if job == nil {
		if err := e.open(ctx); err != nil {
			return err
		}
		fn()
		return nil
	}
	r := e.getRequest(opDo)
	r.fn = fn
	if err := e.await(ctx, job, r); err != nil {
		return err
	}
	err := r.err
	r.free()
	return err
}

// open reports ErrClosed once the engine is closed, and ctx's error once
// ctx is done: operations outside a job, which run on the caller, refuse
// then too, as the contract (package engine) says.
func (e *Engine) open(ctx context.Context) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if ctx == nil { // allowed outside a job, where it was never used
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("offload: %w", err)
	}
	return nil
}

// output offloads r and returns its output, then releases it.
func (e *Engine) output(ctx context.Context, job *async.Job, r *request) ([]byte, error) {
	if err := e.await(ctx, job, r); err != nil {
		return nil, err
	}
	out, err := r.out, r.err
	r.free()
	return out, err
}

func signECDSA(key *ecdsa.PrivateKey, digest []byte) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, key, digest)
}

func signRSA(key *rsa.PrivateKey, digest []byte) ([]byte, error) {
	return rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest)
}
