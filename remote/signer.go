package remote

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/engine"

	"github.com/seed-e1024768/async/internal/signpb"
)

// PublicKey returns the public key of the signer's key keyID: an
// *ecdsa.PublicKey, ed25519.PublicKey or *rsa.PublicKey. The first call
// for a key ID asks one signer with a plain unary call (trying the next if
// one fails) and checks that the key it gets has the ID asked for; the
// engine keeps the key, which never changes for its ID (the ID is its
// hash), so later calls need no round trip. Inside a job the job pauses
// while the call is out, as in Sign (StatusEAGAIN at Config.MaxInFlight,
// and the wake-up Config.Notify says); outside one PublicKey blocks.
// Errors: ErrBadInput (malformed ID), ErrUnknownKey, ErrRefused,
// ErrUnavailable, ErrClosed, ctx's error, and inside a job the error of
// async.PauseJob.
func (e *Engine) PublicKey(ctx context.Context, keyID string) (crypto.PublicKey, error) {
	if !validKeyID(keyID) {
		return nil, fmt.Errorf("remote: key ID %q is not %d lowercase hex digits: %w", keyID, KeyIDLen, ErrBadInput)
	}
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if pub, ok := e.keys.get(keyID); ok {
		return pub, nil
	}
	job := async.CurrentJob(ctx)
	if job == nil {
		return e.fetchKey(ctx, keyID)
	}
	r := e.getRequest(ctx, keyID, 0, nil)
	r.fetch = true
	if err := e.k.Await(ctx, job, r); err != nil {
		return nil, err
	}
	pub, err := r.pub, r.err
	engine.Free(r)
	return pub, err
}

// startFetch fetches r's public key on a goroutine of its own, which
// completes r, for a job that pauses meanwhile. (A fetch is rare, once per
// key ID, and a unary call: unlike signatures, it is not worth a stream.)
func (e *Engine) startFetch(r *request) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed.Load() {
		return ErrClosed
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		pub, err := e.fetchKey(r.ctx, r.keyID)
		r.pub = pub
		e.finish(r, nil, err)
	}()
	return nil
}

// fetchKey asks the signers for keyID's public key, checks it and keeps
// it.
func (e *Engine) fetchKey(ctx context.Context, keyID string) (crypto.PublicKey, error) {
	var resp *signpb.PublicKeyResponse
	err := e.unary(ctx, "PublicKey", func(ctx context.Context, c signpb.SignerClient) (err error) {
		resp, err = c.PublicKey(ctx, &signpb.PublicKeyRequest{KeyId: keyID})
		return err
	})
	if err != nil {
		return nil, err
	}
	if got := KeyID(resp.GetSpki()); got != keyID {
		return nil, fmt.Errorf("remote: PublicKey: signer sent the key %s for %s", got, keyID)
	}
	pub, err := x509.ParsePKIXPublicKey(resp.GetSpki())
	if err != nil {
		return nil, fmt.Errorf("remote: PublicKey %s: %w", keyID, err)
	}
	e.keys.put(keyID, pub)
	return pub, nil
}

// unary runs call against one signer after another, the healthy ones
// first, until one answers or ctx is done; an answer that is an error of
// the request itself (unknown key, bad input) ends the search. Without a
// deadline in ctx it is bounded by Config.Timeout.
func (e *Engine) unary(ctx context.Context, op string, call func(context.Context, signpb.SignerClient) error) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if _, ok := ctx.Deadline(); !ok && e.cfg.Timeout < math.MaxInt64 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.cfg.Timeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(e.ctx, cancel)()
	defer cancel()
	for {
		var last error
		refused := 0
		signers := e.order()
		for _, s := range signers {
			err := call(ctx, s.client)
			if err == nil {
				return nil
			}
			if e.closed.Load() {
				return ErrClosed
			}
			last = unaryError(op, err)
			if errors.Is(last, ErrRefused) {
				refused++
			}
			if isRequestError(last) || refused == len(signers) || ctx.Err() != nil {
				return last
			}
		}
		select { // every signer failed at once: wait a little
		case <-ctx.Done():
			if last == nil { // no signer to ask
				return e.noSigner(ctx.Err())
			}
			return last
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// order returns the signers that are not leaving, those up first.
func (e *Engine) order() []*signerConn {
	signers := e.takers()
	out := make([]*signerConn, 0, len(signers))
	for _, s := range signers {
		if s.up() {
			out = append(out, s)
		}
	}
	for _, s := range signers {
		if !s.up() {
			out = append(out, s)
		}
	}
	return out
}

// SignOne signs like Sign, but with one plain unary gRPC call per
// operation, blocking even inside a job: what most programs do, kept to
// compare with (asyncspeed's "unary" rows).
func (e *Engine) SignOne(ctx context.Context, keyID string, alg Algorithm, payload []byte) ([]byte, error) {
	if err := checkInput(keyID, alg, payload); err != nil {
		return nil, err
	}
	req := &signpb.SignRequest{KeyId: keyID, Algorithm: signpb.Algorithm(alg), Payload: payload}
	d, ok := ctx.Deadline()
	if now := monoNow(); ok || e.cfg.Timeout < math.MaxInt64 {
		req.TimeoutNanos = max(1, e.expiry(now, d, ok)-now)
	}
	var res *signpb.SignResult
	err := e.unary(ctx, "SignOne", func(ctx context.Context, c signpb.SignerClient) (err error) {
		res, err = c.SignOne(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := codeError("", res); err != nil {
		return nil, err
	}
	return res.GetSignature(), nil
}

// Signer returns a crypto.Signer for the signer's key keyID. It fetches
// the public key now, as PublicKey does (pausing a job its ctx belongs
// to, unless the engine has the key already). Errors: those of PublicKey, and
// ErrUnsupported for a key of a type other than ECDSA on P-256, P-384 or
// P-521, Ed25519 or RSA.
func (e *Engine) Signer(ctx context.Context, keyID string) (*Signer, error) {
	pub, err := e.PublicKey(ctx, keyID)
	if err != nil {
		return nil, err
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, fmt.Errorf("remote: key %s is ECDSA on %s, not P-256, P-384 or P-521: %w", keyID, k.Curve.Params().Name, ErrUnsupported)
		}
	case ed25519.PublicKey, *rsa.PublicKey:
	default:
		return nil, fmt.Errorf("remote: key %s is a %T: %w", keyID, pub, ErrUnsupported)
	}
	return &Signer{e: e, keyID: keyID, pub: pub}, nil
}

// Signer is a crypto.Signer whose private key stays with the remote
// signer. Its Sign, like Engine.Sign, pauses the job its ctx belongs to
// while the request is out (SignContext and WithContext take that ctx), so
// a TLS server can hand it to crypto/tls in a tls.Certificate.
type Signer struct {
	e     *Engine
	keyID string
	pub   crypto.PublicKey
}

// Public returns the key's public half.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// KeyID returns the key's ID.
func (s *Signer) KeyID() string { return s.keyID }

// Sign signs digest with context.Background (rand is not used: the signer
// has its own randomness). See SignContext.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest as crypto.Signer's Sign does, with the
// algorithm that the key's type and opts call for; these are every
// option crypto/tls and crypto/x509 pass for the keys a signer holds:
//
//   - ECDSA, on any of its curves: opts a crypto.Hash, SHA-256, SHA-384
//     or SHA-512 (TLS 1.2 pairs any curve with any of them), and digest
//     that hash's output;
//   - RSA PKCS #1 v1.5: opts a crypto.Hash, SHA-256, SHA-384 or SHA-512;
//   - RSA-PSS: opts an *rsa.PSSOptions whose Hash is SHA-256, SHA-384 or
//     SHA-512 and whose SaltLength is rsa.PSSSaltLengthEqualsHash (what
//     crypto/tls passes) or the hash's size: the signer's salt is as long
//     as the hash, as TLS requires;
//   - Ed25519: opts crypto.Hash(0), or an *ed25519.Options asking for
//     neither a hash nor a context: digest is the message itself.
//
// Anything else fails with ErrUnsupported before anything is sent, with
// an error naming the key type and what was asked: another hash (SHA-1,
// TLS 1.0's MD5+SHA1, none), options of another key type, a PSS salt of
// another length (PSSSaltLengthAuto too: it asks for the longest salt,
// which the signer does not make). A digest whose length is not the
// hash's fails with ErrBadInput, also before anything is sent. Other
// errors are those of Engine.Sign.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	alg, err := s.algorithm(opts)
	if err != nil {
		return nil, err
	}
	return s.e.Sign(ctx, s.keyID, alg, digest)
}

// algorithm returns the algorithm that signs with s's key as opts ask.
func (s *Signer) algorithm(opts crypto.SignerOpts) (Algorithm, error) {
	unsupported := func(what string) (Algorithm, error) {
		return 0, fmt.Errorf("remote: %T key with %s: %w", s.pub, what, ErrUnsupported)
	}
	pss, isPSS := opts.(*rsa.PSSOptions)
	ed, isEd := opts.(*ed25519.Options)
	if (isPSS && pss == nil) || (isEd && ed == nil) {
		return unsupported(fmt.Sprintf("nil %T", opts)) // HashFunc would panic
	}
	var h crypto.Hash
	if opts != nil {
		h = opts.HashFunc()
	}
	switch s.pub.(type) {
	case ed25519.PublicKey:
		switch {
		case isPSS:
			return unsupported("RSA-PSS options")
		case isEd && (ed.Hash != 0 || ed.Context != ""):
			return unsupported("Ed25519ph or Ed25519ctx")
		case h != 0:
			return unsupported("hash " + h.String() + " (Ed25519 signs the message itself)")
		}
		return Ed25519, nil
	case *ecdsa.PublicKey:
		if isPSS || isEd {
			return unsupported(fmt.Sprintf("%T", opts))
		}
		if alg, ok := find(kindECDSA, h); ok {
			return alg, nil
		}
		return unsupported("hash " + hashName(h) + " (want SHA-256, SHA-384 or SHA-512)")
	case *rsa.PublicKey:
		if isEd {
			return unsupported(fmt.Sprintf("%T", opts))
		}
		kind := kindPKCS1
		if isPSS {
			kind = kindPSS
		}
		alg, ok := find(kind, h)
		if !ok {
			return unsupported("hash " + hashName(h) + " (want SHA-256, SHA-384 or SHA-512)")
		}
		if isPSS && pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != h.Size() {
			return unsupported(fmt.Sprintf("PSS salt length %d (the signer's salt is as long as the hash, %d bytes)", pss.SaltLength, h.Size()))
		}
		return alg, nil
	}
	return unsupported("no known algorithm")
}

func hashName(h crypto.Hash) string {
	if h == 0 {
		return "none"
	}
	return h.String()
}

// WithContext returns a crypto.Signer for the same key whose Sign uses ctx:
// in a crypto/tls GetCertificate callback, pass the ClientHelloInfo's
// Context so the handshake's job (if any) pauses while the signature is
// made, and its deadline travels with the request.
func (s *Signer) WithContext(ctx context.Context) crypto.Signer {
	return ctxSigner{s: s, ctx: ctx}
}

type ctxSigner struct {
	s   *Signer
	ctx context.Context
}

func (c ctxSigner) Public() crypto.PublicKey { return c.s.pub }

func (c ctxSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return c.s.SignContext(c.ctx, digest, opts)
}
