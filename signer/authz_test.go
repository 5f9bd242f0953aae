package signer

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// serveAt starts a server as serve does, for the deployment cfg.Dir.
func serveAt(t testing.TB, cfg Config) *served {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sv := &served{s: s, addr: lis.Addr().String(), errc: make(chan error, 1)}
	go func() { sv.errc <- s.Serve(lis) }()
	t.Cleanup(func() {
		s.Stop(5 * time.Second)
		if err := <-sv.errc; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return sv
}

// writePolicy writes dir's policy file (atomically, as an operator's
// editor or a deployment tool would).
func writePolicy(t testing.TB, dir, policy string) {
	t.Helper()
	tmp := filepath.Join(dir, ".policy.tmp")
	if err := os.WriteFile(tmp, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, PolicyFile)); err != nil {
		t.Fatal(err)
	}
}

// signOneAs signs a digest with k as client c, and returns the result.
func signOneAs(t testing.TB, c pb.SignerClient, k *key) *pb.SignResult {
	t.Helper()
	alg := pb.Algorithm_ECDSA_P256_SHA256
	payload := digest("authz")
	switch k.family {
	case famRSA:
		alg = pb.Algorithm_RSA_PKCS1_SHA256
	case famEd25519:
		alg = pb.Algorithm_ED25519
	}
	r, err := c.SignOne(testContext(t), &pb.SignRequest{Id: 7, KeyId: k.id, Algorithm: alg, Payload: payload}, grpc.WaitForReady(true))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAuthorization: per-client authorization. A request for a key the
// client may not use is answered CODE_PERMISSION_DENIED, alone, on
// SignOne and on a stream, with a message that names neither the key
// nor the payload; the policy names keys by name, by ID or "*"; a client
// it does not name may use none; PublicKey shows a client only its own
// keys, a key it may not use as NotFound exactly as an unknown one.
func TestAuthorization(t *testing.T) {
	_, byName := loadTestKeys(t)
	dir := copyDeployment(t)
	writePolicy(t, dir, `{"authz-alice": ["ecdsap256"], "authz-bob": ["*"], "authz-carol": ["`+byName["ed25519"].id+`", "no-such-key"]}`)
	sv := serveAt(t, Config{Dir: dir})
	may := map[string][]string{
		"authz-alice": {"ecdsap256"},
		"authz-bob":   nil, // "*": every key, below
		"authz-carol": {"ed25519"},
		"authz-dave":  nil,
	}
	for name := range byName {
		may["authz-bob"] = append(may["authz-bob"], name)
	}
	for client, allowed := range may {
		c := dialAs(t, sv, client)
		for name, k := range byName {
			want := pb.Code_CODE_PERMISSION_DENIED
			if strings.Contains(strings.Join(allowed, " "), name) {
				want = pb.Code_CODE_OK
			}
			r := signOneAs(t, c, k)
			if r.Code != want {
				t.Errorf("%s SignOne with %s: %v %q, want %v", client, name, r.Code, r.Error, want)
			}
			if want != pb.Code_CODE_OK && (r.Error != errDenied || len(r.Signature) > 0) {
				t.Errorf("%s SignOne with %s: error %q, signature %d bytes", client, name, r.Error, len(r.Signature))
			}
			_, err := c.PublicKey(testContext(t), &pb.PublicKeyRequest{KeyId: k.id})
			if want == pb.Code_CODE_OK && err != nil {
				t.Errorf("%s PublicKey %s: %v", client, name, err)
			}
			if want != pb.Code_CODE_OK {
				_, unknown := c.PublicKey(testContext(t), &pb.PublicKeyRequest{KeyId: strings.Repeat("0", 64)})
				if status.Code(err) != codes.NotFound || status.Convert(err).Message() != status.Convert(unknown).Message() {
					t.Errorf("%s PublicKey %s: %v, want NotFound as for an unknown key (%v)", client, name, err, unknown)
				}
			}
		}
	}

	// On a stream: each request answered for itself, the denied ones
	// alone; an unknown key stays CODE_UNKNOWN_KEY.
	st, err := dialAs(t, sv, "authz-alice").Sign(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	reqs := []*pb.SignRequest{
		{Id: 1, KeyId: byName["ecdsap256"].id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest("1")},
		{Id: 2, KeyId: byName["rsa2048"].id, Algorithm: pb.Algorithm_RSA_PKCS1_SHA256, Payload: digest("2")},
		{Id: 3, KeyId: strings.Repeat("0", 64), Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest("3")},
		{Id: 4, KeyId: byName["ecdsap256"].id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest("4")},
	}
	if err := st.Send(&pb.RequestBatch{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	got := recvAnswers(t, st, len(reqs))
	want := map[uint64]pb.Code{1: pb.Code_CODE_OK, 2: pb.Code_CODE_PERMISSION_DENIED, 3: pb.Code_CODE_UNKNOWN_KEY, 4: pb.Code_CODE_OK}
	for id, code := range want {
		if got[id] != code {
			t.Errorf("stream request %d: %v, want %v", id, got[id], code)
		}
	}
}

// recvAnswers receives n answers from st, by request ID.
func recvAnswers(t testing.TB, st pb.Signer_SignClient, n int) map[uint64]pb.Code {
	t.Helper()
	got := map[uint64]pb.Code{}
	for len(got) < n {
		b, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Results {
			if _, dup := got[r.Id]; dup {
				t.Fatalf("request %d answered twice", r.Id)
			}
			got[r.Id] = r.Code
		}
	}
	return got
}

// countingAuth lets everyone use every key, and counts how often it is
// asked.
type countingAuth struct{ calls atomic.Int64 }

func (a *countingAuth) Allow(client, keyName, keyID string) bool {
	a.calls.Add(1)
	return true
}

// TestAuthorizerAskedOnce: a Config.Authorizer is asked once per client
// and key, then again after a Reload, and never per request (the check
// on the hot path is a lookup in what it said).
func TestAuthorizerAskedOnce(t *testing.T) {
	keys, byName := loadTestKeys(t)
	auth := &countingAuth{}
	sv := serveAt(t, Config{Dir: testDir, Authorizer: auth})
	c := dialAs(t, sv, "authz-alice")
	for range 50 {
		if r := signOneAs(t, c, byName["ecdsap256"]); r.Code != pb.Code_CODE_OK {
			t.Fatal(r)
		}
	}
	if n := auth.calls.Load(); n != int64(len(keys)) {
		t.Errorf("Authorizer asked %d times for 50 requests, want %d (once per key)", n, len(keys))
	}
	if err := sv.s.Reload(); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		signOneAs(t, c, byName["ecdsap256"])
	}
	if n := auth.calls.Load(); n != 2*int64(len(keys)) {
		t.Errorf("Authorizer asked %d times after a Reload, want %d", n, 2*len(keys))
	}
}

// TestAuthorizeAllocs: authorizing a request allocates nothing, with a
// policy in force as without.
func TestAuthorizeAllocs(t *testing.T) {
	keys, byName := loadTestKeys(t)
	p, err := ParsePolicy([]byte(`{"alice": ["ecdsap256"]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []Authorizer{nil, p} {
		ring := &keyring{keys: keys, auth: auth}
		cl := &client{id: "alice"}
		ok := &pb.SignRequest{KeyId: byName["ecdsap256"].id}
		no := &pb.SignRequest{KeyId: byName["rsa2048"].id}
		cl.keysFor(ring)
		n := testing.AllocsPerRun(1000, func() {
			view := cl.keysFor(ring)
			if _, d := admitKey(ring, view, ok); d != nil {
				t.Fatal("denied")
			}
			admitKey(ring, view, no)
		})
		if n != 0 {
			t.Errorf("authorizing (Authorizer %T) allocates %v times a request", auth, n)
		}
	}
}

// BenchmarkAuthorize is the hot path's check: what a request's
// authorization costs beyond the key lookup it makes anyway.
func BenchmarkAuthorize(b *testing.B) {
	keys, byName := loadTestKeys(b)
	p, err := ParsePolicy([]byte(`{"alice": ["ecdsap256", "ed25519"]}`))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		auth Authorizer
	}{{"none", nil}, {"policy", p}} {
		b.Run(c.name, func(b *testing.B) {
			ring := &keyring{keys: keys, auth: c.auth}
			cl := &client{id: "alice"}
			req := &pb.SignRequest{KeyId: byName["ecdsap256"].id}
			b.ReportAllocs()
			for b.Loop() {
				admitKey(ring, cl.keysFor(ring), req)
			}
		})
	}
}
