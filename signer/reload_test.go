package signer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// TestReloadPolicyOnOpenStream (reload without restart): a client
// removed from the policy is denied from its next request, on a stream
// that stays open; put back, it is served again on the same stream.
func TestReloadPolicyOnOpenStream(t *testing.T) {
	_, byName := loadTestKeys(t)
	dir := copyDeployment(t)
	writePolicy(t, dir, `{"authz-alice": ["ecdsap256"]}`)
	sv := serveAt(t, Config{Dir: dir})
	st, err := dialAs(t, sv, "authz-alice").Sign(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	k := byName["ecdsap256"]
	id := uint64(0)
	sign := func() pb.Code {
		t.Helper()
		id++
		if err := st.Send(&pb.RequestBatch{Requests: []*pb.SignRequest{{Id: id, KeyId: k.id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest("x")}}}); err != nil {
			t.Fatal(err)
		}
		return recvAnswers(t, st, 1)[id]
	}
	if c := sign(); c != pb.Code_CODE_OK {
		t.Fatalf("before the reload: %v", c)
	}
	writePolicy(t, dir, `{"authz-bob": ["*"]}`)
	if err := sv.s.Reload(); err != nil {
		t.Fatal(err)
	}
	if c := sign(); c != pb.Code_CODE_PERMISSION_DENIED {
		t.Fatalf("after alice left the policy: %v, want CODE_PERMISSION_DENIED", c)
	}
	writePolicy(t, dir, `{"authz-alice": ["`+k.id+`"]}`)
	if err := sv.s.Reload(); err != nil {
		t.Fatal(err)
	}
	if c := sign(); c != pb.Code_CODE_OK {
		t.Fatalf("after alice came back: %v", c)
	}
	// And no policy at all: every client may use every key.
	if err := os.Remove(filepath.Join(dir, PolicyFile)); err != nil {
		t.Fatal(err)
	}
	if err := sv.s.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := signOneAs(t, dialAs(t, sv, "authz-dave"), byName["rsa2048"]); r.Code != pb.Code_CODE_OK {
		t.Fatalf("with no policy: %v", r.Code)
	}
}

// TestReloadBrokenKeepsOld (reload without restart): a policy, a key or
// a certificate that does not parse, or a policy others may write, makes
// Reload fail, saying why (the policy's line and column), and leaves the old configuration whole in
// force: its policy, its keys, and its certificate for new connections.
func TestReloadBrokenKeepsOld(t *testing.T) {
	keys, byName := loadTestKeys(t)
	dir := copyDeployment(t)
	writePolicy(t, dir, `{"authz-alice": ["ecdsap256"]}`)
	sv := serveAt(t, Config{Dir: dir})
	alice := dialAs(t, sv, "authz-alice")
	check := func(what string) {
		t.Helper()
		if r := signOneAs(t, alice, byName["ecdsap256"]); r.Code != pb.Code_CODE_OK {
			t.Errorf("after a broken %s: alice's ecdsap256 %v", what, r.Code)
		}
		if r := signOneAs(t, alice, byName["rsa2048"]); r.Code != pb.Code_CODE_PERMISSION_DENIED {
			t.Errorf("after a broken %s: alice's rsa2048 %v", what, r.Code)
		}
		if got := sv.s.KeyIDs(); len(got) != len(keys) {
			t.Errorf("after a broken %s: %d keys", what, len(got))
		}
		// A new connection: the old certificate still serves.
		if r := signOneAs(t, dialDir(t, sv, testClients.dirs["authz-alice"]), byName["ecdsap256"]); r.Code != pb.Code_CODE_OK {
			t.Errorf("after a broken %s: a new connection's %v", what, r.Code)
		}
	}
	check("nothing")

	// Everything in a new policy is valid but the last line; the old one
	// stays.
	writePolicy(t, dir, "{\n  \"authz-alice\": [\"*\"],\n  \"authz-bob\": [\"*\"]\n  \"authz-carol\": []\n}")
	err := sv.s.Reload()
	var pe *PolicyError
	if !errors.As(err, &pe) || pe.Line != 4 || pe.Column != 3 || pe.File != filepath.Join(dir, PolicyFile) {
		t.Fatalf("Reload with a broken policy: %v, want a *PolicyError at %s:4:3", err, PolicyFile)
	}
	check("policy")
	writePolicy(t, dir, `{"authz-alice": ["ecdsap256"]}`)

	// A policy others may write: anyone could grant themselves keys.
	if err := os.Chmod(filepath.Join(dir, PolicyFile), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := sv.s.Reload(); !errors.Is(err, ErrTooOpen) {
		t.Fatalf("Reload with a policy others may write: %v, want ErrTooOpen", err)
	}
	check("policy's mode")
	writePolicy(t, dir, `{"authz-alice": ["ecdsap256"]}`)

	// A new key file that does not parse.
	bad := filepath.Join(dir, keysDir, "new.key")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sv.s.Reload(); err == nil || !errors.Is(err, ErrKeyFormat) {
		t.Fatalf("Reload with a broken key: %v, want ErrKeyFormat", err)
	}
	check("key")
	os.Remove(bad)

	// A server certificate that does not parse.
	certPath := filepath.Join(dir, serverCertFile)
	good, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sv.s.Reload(); err == nil {
		t.Fatal("Reload with a broken certificate: no error")
	}
	check("certificate")
	if err := os.WriteFile(certPath, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := sv.s.Reload(); err != nil {
		t.Fatal(err)
	}
	check("nothing, again")
}

// TestReloadCertificate (reload without restart): a new server
// certificate serves from the next handshake on, while a connection made
// before goes on.
func TestReloadCertificate(t *testing.T) {
	_, byName := loadTestKeys(t)
	dir := copyDeployment(t)
	sv := serveAt(t, Config{Dir: dir})
	old := dialAs(t, sv, "authz-alice")
	signOneAs(t, old, byName["ecdsap256"])
	before := peerCert(t, sv.addr)

	// A new server identity from the same signer CA.
	ca, caKey, err := readCA(dir, signerCACertFile, signerCAKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{serverCertFile, serverKeyFile} {
		os.Remove(filepath.Join(dir, f))
	}
	w := writer{dir: dir, now: time.Now()}
	if err := w.identity(ca, caKey, "asyncsignd", x509.ExtKeyUsageServerAuth, serverCertFile, serverKeyFile); err != nil {
		t.Fatal(err)
	}
	if err := sv.s.Reload(); err != nil {
		t.Fatal(err)
	}
	after := peerCert(t, sv.addr)
	if before.SerialNumber.Cmp(after.SerialNumber) == 0 {
		t.Error("a new handshake after the reload got the old certificate")
	}
	if r := signOneAs(t, old, byName["ecdsap256"]); r.Code != pb.Code_CODE_OK {
		t.Errorf("the connection made before the reload: %v", r.Code)
	}
}

// peerCert returns the certificate the signer at addr serves a new
// connection.
func peerCert(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	cfg, err := ClientTLS(testDir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.NextProtos = []string{"h2"}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// memStore is a KeyStore a test changes.
type memStore struct {
	mu   sync.Mutex
	keys []Key
}

func (m *memStore) Keys() ([]Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.keys), nil
}

func (m *memStore) set(keys ...Key) {
	m.mu.Lock()
	m.keys = keys
	m.mu.Unlock()
}

// TestReloadKeys (reload without restart): keys are read again through
// the KeyStore: a new one signs, a removed one is CODE_UNKNOWN_KEY, the
// policy names keys by their store's names, and the scheduler's quantum
// follows the costliest key.
func TestReloadKeys(t *testing.T) {
	_, byName := loadTestKeys(t)
	dir := copyDeployment(t)
	writePolicy(t, dir, `{"authz-alice": ["a", "b"]}`)
	ec, ecKey := newECKey(t, "a")
	store := &memStore{keys: []Key{{Name: "a", Signer: ec}}}
	sv := serveAt(t, Config{Dir: dir, Keys: store})
	q0 := sv.s.q.quantum
	alice := dialAs(t, sv, "authz-alice")
	if r := signOneAs(t, alice, ecKey); r.Code != pb.Code_CODE_OK {
		t.Fatalf("key a: %v", r.Code)
	}
	rsaKey := byName["rsa2048"]
	if r := signOneAs(t, alice, rsaKey); r.Code != pb.Code_CODE_UNKNOWN_KEY {
		t.Fatalf("key b before it is added: %v", r.Code)
	}
	store.set(Key{Name: "a", Signer: ec}, Key{Name: "b", Signer: rsaKey.signer})
	if err := sv.s.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := signOneAs(t, alice, rsaKey); r.Code != pb.Code_CODE_OK {
		t.Fatalf("key b once added: %v", r.Code)
	}
	sv.s.q.mu.Lock()
	q1 := sv.s.q.quantum
	sv.s.q.mu.Unlock()
	if q0 >= q1 || q1 != rsaKey.cost {
		t.Errorf("quantum %d, then %d with an RSA key; want it to grow to %d", q0, q1, rsaKey.cost)
	}
	store.set(Key{Name: "b", Signer: rsaKey.signer})
	if err := sv.s.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := signOneAs(t, alice, ecKey); r.Code != pb.Code_CODE_UNKNOWN_KEY {
		t.Fatalf("key a once removed: %v", r.Code)
	}
	store.set()
	if err := sv.s.Reload(); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("Reload with no keys: %v, want ErrNoKeys", err)
	}
	if r := signOneAs(t, alice, rsaKey); r.Code != pb.Code_CODE_OK {
		t.Fatalf("key b after a failed reload: %v", r.Code)
	}
}

// TestReloadUnderLoad (reload without restart: a reload under load loses
// no request): 20,000 requests over four streams of two clients, while
// the policy (which lets both use the key, by name, then by ID) and the
// keys are reloaded every few milliseconds; every request is answered
// once, and signed.
func TestReloadUnderLoad(t *testing.T) {
	_, byName := loadTestKeys(t)
	dir := copyDeployment(t)
	k := byName["ecdsap256"]
	policies := []string{
		`{"authz-alice": ["ecdsap256"], "authz-bob": ["*"]}`,
		`{"authz-alice": ["` + k.id + `"], "authz-bob": ["ecdsap256", "rsa2048"]}`,
	}
	writePolicy(t, dir, policies[0])
	sv := serveAt(t, Config{Dir: dir})
	const streams, perStream, batch = 4, 5000, 50
	done := make(chan struct{})
	reloaded := make(chan int)
	go func() {
		n := 0
		defer func() { reloaded <- n }()
		for {
			select {
			case <-done:
				return
			case <-time.After(3 * time.Millisecond):
			}
			writePolicy(t, dir, policies[n%2])
			if err := sv.s.Reload(); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	var wg sync.WaitGroup
	for i := range streams {
		client := []string{"authz-alice", "authz-bob"}[i%2]
		// 20,000 signatures take 15s under -race on a busy 2-core machine.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		st, err := dialAs(t, sv, client).Sign(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := map[uint64]bool{}
			for sent := 0; sent < perStream; {
				reqs := make([]*pb.SignRequest, batch)
				for j := range reqs {
					sent++
					reqs[j] = &pb.SignRequest{Id: uint64(sent), KeyId: k.id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest("load")}
				}
				if err := st.Send(&pb.RequestBatch{Requests: reqs}); err != nil {
					t.Error(err)
					return
				}
				for n := 0; n < batch; {
					b, err := st.Recv()
					if err != nil {
						t.Error(err)
						return
					}
					for _, r := range b.Results {
						n++
						if got[r.Id] {
							t.Errorf("%s: request %d answered twice", client, r.Id)
						}
						got[r.Id] = true
						if r.Code != pb.Code_CODE_OK {
							t.Errorf("%s: request %d: %v %s", client, r.Id, r.Code, r.Error)
						}
					}
				}
			}
			st.CloseSend()
			if _, err := st.Recv(); err == nil {
				t.Errorf("%s: an answer more than asked for", client)
			}
			if len(got) != perStream {
				t.Errorf("%s: %d answers, want %d", client, len(got), perStream)
			}
		}()
	}
	wg.Wait()
	close(done)
	n := <-reloaded
	if n < 3 {
		t.Errorf("only %d reloads during the load", n)
	}
	t.Logf("%d reloads during %d requests", n, streams*perStream)
	stats := sv.s.Stats()
	if stats.Received != streams*perStream || stats.Signed != streams*perStream {
		t.Errorf("received %d, signed %d; want %d", stats.Received, stats.Signed, streams*perStream)
	}
}

// TestReloadReachesQueued (reload without restart): a request still
// waiting for a worker when a Reload takes its key from its client, or
// from the signer, is answered as one sent after the reload would be
// (CODE_PERMISSION_DENIED, CODE_UNKNOWN_KEY), not signed: a revoked
// client's queue does not outlive its access.
func TestReloadReachesQueued(t *testing.T) {
	_, byName := loadTestKeys(t)
	dir := copyDeployment(t)
	ec, ecKey := newECKey(t, "a")
	rsaKey := byName["rsa2048"]
	store := &memStore{keys: []Key{{Name: "a", Signer: ec}, {Name: "b", Signer: rsaKey.signer}}}
	writePolicy(t, dir, `{"authz-alice": ["a", "b"]}`)
	// Requests wait Delay/2 for a worker: time enough to reload, even
	// under -race on a busy machine.
	sv := serveAt(t, Config{Dir: dir, Keys: store, Delay: 4 * time.Second})
	st, err := dialAs(t, sv, "authz-alice").Sign(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	reqs := []*pb.SignRequest{
		{Id: 1, KeyId: ecKey.id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest("a")},
		{Id: 2, KeyId: rsaKey.id, Algorithm: pb.Algorithm_RSA_PKCS1_SHA256, Payload: digest("b")},
	}
	if err := st.Send(&pb.RequestBatch{Requests: reqs}); err != nil {
		t.Fatal(err)
	}
	queued := func() int {
		sv.s.q.mu.Lock()
		defer sv.s.q.mu.Unlock()
		return sv.s.q.n
	}
	for deadline := time.Now().Add(10 * time.Second); queued() < len(reqs); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests queued after 10s, want %d", queued(), len(reqs))
		}
	}
	// Alice keeps b, which the signer no longer has, and loses a.
	store.set(Key{Name: "a", Signer: ec})
	writePolicy(t, dir, `{"authz-alice": ["b"]}`)
	if err := sv.s.Reload(); err != nil {
		t.Fatal(err)
	}
	if n := queued(); n != len(reqs) {
		t.Fatalf("%d requests still queued after the reload, want %d: the test reloaded too late", n, len(reqs))
	}
	got := recvAnswers(t, st, len(reqs))
	if got[1] != pb.Code_CODE_PERMISSION_DENIED {
		t.Errorf("queued request for a key its client lost: %v, want CODE_PERMISSION_DENIED", got[1])
	}
	if got[2] != pb.Code_CODE_UNKNOWN_KEY {
		t.Errorf("queued request for a key the signer lost: %v, want CODE_UNKNOWN_KEY", got[2])
	}
}

// newECKey makes a fresh P-256 key named name: its signer, for a
// memStore, and the signer's view of it, for its ID.
func newECKey(t *testing.T, name string) (*ecdsa.PrivateKey, *key) {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := newKey(Key{Name: name, Signer: ec})
	if err != nil {
		t.Fatal(err)
	}
	return ec, k
}
