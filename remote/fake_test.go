//go:build linux

package remote

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/seed-e1024768/async/enginetest"
	"github.com/seed-e1024768/async/internal/signpb"
)

// fakeSigner is an in-process signer, for what cmd/asyncsignd cannot be
// made to do on demand: it says Limits (or, as a signer that predates
// them, does not), refuses requests past them, or whenever refuse says
// (as a signer does at a bound of the client, shared by all its streams),
// delays its answers, and can sign wrongly. It signs with keys of its own
// (fakeKeys) and checks how the engine keeps to its limits.
type fakeSigner struct {
	signpb.UnimplementedSignerServer

	lim     *signpb.Limits // said first on each stream; nil: none
	full    signpb.Code    // the code past a bound: OVERLOADED, or UNAVAILABLE as older signers do
	refuse  func(n int64) bool
	delay   time.Duration    // before each answer
	keyWait time.Duration    // before answering PublicKey
	corrupt bool             // sign, then spoil the signature
	wrongID bool             // PublicKey sends another key than asked for
	drop    atomic.Bool      // end each stream once it has sent a batch
	gate    *enginetest.Gate // if set, each answer waits at it

	strict  atomic.Bool // count violations of lim from now on
	n       atomic.Int64
	signed  atomic.Int64
	refused atomic.Int64 // requests refused for want of room
	broken  atomic.Int64 // batches or requests beyond lim while strict

	mu       sync.Mutex
	timeouts []int64 // timeout_nanos of each request
	walls    []int64 // deadline_unix_nano of each request

	addr string
}

var fakeKeys = sync.OnceValue(func() map[string]crypto.Signer {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	m := map[string]crypto.Signer{}
	for _, k := range []crypto.Signer{ec, ed} {
		spki, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			panic(err)
		}
		m[KeyID(spki)] = k
	}
	return m
})

// fakeKey returns the ID and key of the fake signer's key of alg.
func fakeKey(alg Algorithm) (string, crypto.Signer) {
	for id, k := range fakeKeys() {
		if _, ok := k.(ed25519.PrivateKey); ok == (alg == Ed25519) {
			return id, k
		}
	}
	panic("no key")
}

// startFake serves f on loopback with the deployment's signer
// certificate until the test ends.
func startFake(t testing.TB, f *fakeSigner) *fakeSigner {
	t.Helper()
	_, dir, _ := testSignd(t)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// Clients are the client CA's, as the real signer has them.
	roots := certPool(t, filepath.Join(dir, "client-ca.pem"))
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: roots}
	if f.full == 0 {
		f.full = signpb.Code_CODE_OVERLOADED
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	signpb.RegisterSignerServer(srv, f)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	f.addr = lis.Addr().String()
	return f
}

func (f *fakeSigner) PublicKey(_ context.Context, req *signpb.PublicKeyRequest) (*signpb.PublicKeyResponse, error) {
	time.Sleep(f.keyWait)
	id := req.GetKeyId()
	if f.wrongID {
		for other := range fakeKeys() {
			if other != id {
				id = other
				break
			}
		}
	}
	k, ok := fakeKeys()[id]
	if !ok {
		return nil, status.Error(codes.NotFound, "unknown key")
	}
	spki, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, err
	}
	return &signpb.PublicKeyResponse{KeyId: req.GetKeyId(), Spki: spki}, nil
}

func (f *fakeSigner) sign(req *signpb.SignRequest) *signpb.SignResult {
	res := &signpb.SignResult{Id: req.GetId()}
	k, ok := fakeKeys()[req.GetKeyId()]
	if !ok {
		res.Code, res.Error = signpb.Code_CODE_UNKNOWN_KEY, "unknown key"
		return res
	}
	var opts crypto.SignerOpts = crypto.SHA256
	if req.GetAlgorithm() == signpb.Algorithm_ED25519 {
		opts = crypto.Hash(0)
	}
	sig, err := k.Sign(rand.Reader, req.GetPayload(), opts)
	if err != nil {
		res.Code, res.Error = signpb.Code_CODE_BAD_REQUEST, err.Error()
		return res
	}
	if f.corrupt {
		sig[len(sig)/2] ^= 1
	}
	f.signed.Add(1)
	res.Signature = sig
	return res
}

// Sign serves a stream: limits first, then each request answered after
// f.delay, or at once if refused.
func (f *fakeSigner) Sign(ss grpc.BidiStreamingServer[signpb.RequestBatch, signpb.ResultBatch]) error {
	ctx := ss.Context()
	if f.lim != nil {
		if err := ss.Send(&signpb.ResultBatch{Limits: f.lim}); err != nil {
			return err
		}
	}
	out := make(chan *signpb.SignResult, 1<<16)
	sent := make(chan error, 1)
	go func() { // the sender: what is ready, in one batch
		for {
			var b signpb.ResultBatch
			select {
			case r := <-out:
				b.Results = append(b.Results, r)
			case <-ctx.Done():
				sent <- ctx.Err()
				return
			}
		more:
			for len(b.Results) < 256 {
				select {
				case r := <-out:
					b.Results = append(b.Results, r)
				default:
					break more
				}
			}
			if err := ss.Send(&b); err != nil {
				sent <- err
				return
			}
		}
	}()
	answer := func(r *signpb.SignResult) {
		select {
		case out <- r:
		case <-ctx.Done():
		}
	}
	var mu sync.Mutex
	inFlight, bytes := 0, 0
	for {
		b, err := ss.Recv()
		if err != nil {
			<-ctx.Done()
			return err
		}
		if f.drop.Load() {
			return status.Error(codes.Internal, "dropped")
		}
		if f.lim != nil && len(b.GetRequests()) > int(f.lim.GetMaxBatch()) && f.strict.Load() {
			f.broken.Add(1)
		}
		if f.lim.GetMaxBatchBytes() > 0 && proto.Size(b) > int(f.lim.GetMaxBatchBytes()) && f.strict.Load() {
			f.broken.Add(1)
		}
		for _, req := range b.GetRequests() {
			f.mu.Lock()
			f.timeouts = append(f.timeouts, req.GetTimeoutNanos())
			f.walls = append(f.walls, req.GetDeadlineUnixNano())
			f.mu.Unlock()
			size := proto.Size(req)
			mu.Lock()
			over := f.lim != nil && (inFlight >= int(f.lim.GetMaxInFlight()) || bytes+size > int(f.lim.GetMaxInFlightBytes()))
			if over && f.strict.Load() {
				f.broken.Add(1)
			}
			if !over && f.lim == nil && inFlight >= 8 {
				over = true // an older signer's bound
			}
			if over || (f.refuse != nil && f.refuse(f.n.Add(1))) {
				mu.Unlock()
				f.refused.Add(1)
				msg := "too many requests in flight on this stream"
				answer(&signpb.SignResult{Id: req.GetId(), Code: f.full, Error: msg})
				continue
			}
			inFlight++
			bytes += size
			mu.Unlock()
			time.AfterFunc(f.delay, func() {
				if f.gate != nil {
					f.gate.Wait()
				}
				res := f.sign(req)
				mu.Lock()
				inFlight--
				bytes -= size
				mu.Unlock()
				answer(res)
			})
		}
	}
}

// fakeEngine dials f with cfg.
func fakeEngine(t testing.TB, f *fakeSigner, cfg Config) *Engine {
	t.Helper()
	_, dir, _ := testSignd(t)
	cfg.Addrs = []string{f.addr}
	cfg.TLS = clientTLS(t, dir)
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// verifyFake checks sig over payload with the fake signer's key kid.
func verifyFake(kid string, alg Algorithm, payload, sig []byte) error {
	switch k := fakeKeys()[kid].(type) {
	case *ecdsa.PrivateKey:
		if !ecdsa.VerifyASN1(&k.PublicKey, payload, sig) {
			return fmt.Errorf("bad ECDSA signature")
		}
	case ed25519.PrivateKey:
		if !ed25519.Verify(k.Public().(ed25519.PublicKey), payload, sig) {
			return fmt.Errorf("bad Ed25519 signature")
		}
	}
	return nil
}
