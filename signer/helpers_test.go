package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// testDir is one deployment for the whole test binary: an RSA key takes
// a while to make, more so under -race.
var testDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signer-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDir = filepath.Join(dir, "deploy")
	if err := Init(testDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Every later Init of the tests writes the same keys: an RSA-4096
	// key alone takes seconds to make under the race detector.
	var made []crypto.Signer
	for _, sk := range signingKeys {
		s, err := readPrivateKey(filepath.Join(testDir, keysDir, sk.name+".key"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		made = append(made, s)
	}
	reuseKeys = func() ([]crypto.Signer, error) { return made, nil }
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testKeys are the deployment's keys by file stem.
type testKeys map[string]*key

func loadTestKeys(t testing.TB) (map[string]*key, testKeys) {
	t.Helper()
	keys, err := loadKeys(DirKeys(filepath.Join(testDir, keysDir)))
	if err != nil {
		t.Fatal(err)
	}
	byName := testKeys{}
	for _, sk := range signingKeys {
		s, err := readPrivateKey(filepath.Join(testDir, keysDir, sk.name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		id, err := KeyID(s.Public())
		if err != nil {
			t.Fatal(err)
		}
		byName[sk.name] = keys[id]
	}
	return keys, byName
}

// served is a server on a loopback listener and a client connected to it.
type served struct {
	s      *Server
	addr   string
	conn   *grpc.ClientConn
	client pb.SignerClient
	errc   chan error
}

// serve starts a server for testDir with cfg (Dir filled in) and stops it
// at the end of the test.
func serve(t testing.TB, cfg Config) *served {
	t.Helper()
	cfg.Dir = testDir
	sv := serveAt(t, cfg)
	tc, err := ClientTLS(testDir)
	if err != nil {
		t.Fatal(err)
	}
	sv.conn, err = grpc.NewClient(sv.addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sv.conn.Close() })
	sv.client = pb.NewSignerClient(sv.conn)
	return sv
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// verify checks sig over payload (a digest or, for Ed25519, the message)
// with the public key in spki, as the algorithm's wire comment says,
// independently of the server's schemes table.
func verify(spki []byte, alg pb.Algorithm, payload, sig []byte) error {
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return err
	}
	h, pss := wantHash[alg], false
	switch alg {
	case pb.Algorithm_ECDSA_P256_SHA256, pb.Algorithm_ECDSA_SHA384, pb.Algorithm_ECDSA_SHA512:
		if k, ok := pub.(*ecdsa.PublicKey); !ok || len(payload) != h.Size() || !ecdsa.VerifyASN1(k, payload, sig) {
			return fmt.Errorf("%v signature does not verify", alg)
		}
		return nil
	case pb.Algorithm_ED25519:
		if k, ok := pub.(ed25519.PublicKey); !ok || !ed25519.Verify(k, payload, sig) {
			return fmt.Errorf("Ed25519 signature does not verify")
		}
		return nil
	case pb.Algorithm_RSA_PSS_SHA256, pb.Algorithm_RSA_PSS_SHA384, pb.Algorithm_RSA_PSS_SHA512:
		pss = true
	case pb.Algorithm_RSA_PKCS1_SHA256, pb.Algorithm_RSA_PKCS1_SHA384, pb.Algorithm_RSA_PKCS1_SHA512:
	default:
		return fmt.Errorf("no such algorithm %v", alg)
	}
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%v with a %T", alg, pub)
	}
	if pss {
		// The salt must be exactly as long as the hash, as TLS requires.
		return rsa.VerifyPSS(k, h, payload, sig, &rsa.PSSOptions{SaltLength: h.Size()})
	}
	return rsa.VerifyPKCS1v15(k, h, payload, sig)
}

// wantHash is the hash of each algorithm that signs a digest, as the
// wire protocol defines it.
var wantHash = map[pb.Algorithm]crypto.Hash{
	pb.Algorithm_ECDSA_P256_SHA256: crypto.SHA256,
	pb.Algorithm_ECDSA_SHA384:      crypto.SHA384,
	pb.Algorithm_ECDSA_SHA512:      crypto.SHA512,
	pb.Algorithm_RSA_PKCS1_SHA256:  crypto.SHA256,
	pb.Algorithm_RSA_PKCS1_SHA384:  crypto.SHA384,
	pb.Algorithm_RSA_PKCS1_SHA512:  crypto.SHA512,
	pb.Algorithm_RSA_PSS_SHA256:    crypto.SHA256,
	pb.Algorithm_RSA_PSS_SHA384:    crypto.SHA384,
	pb.Algorithm_RSA_PSS_SHA512:    crypto.SHA512,
}

func digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

// waitFor polls cond until it holds, for at most ten seconds.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("condition never held")
		}
	}
}

// testServer is a server for keys that is not serving: for tests that
// drive its parts (take, the queue, run) by hand.
func testServer(keys map[string]*key) *Server {
	base := time.Now()
	s := &Server{
		budget:   newBudget(DefaultMaxMemory, DefaultClientMemory),
		base:     base,
		q:        newFairQueue(base, 0, quantum(keys)),
		held:     newQueue(base, 0, true),
		draining: make(chan struct{}),
	}
	s.ring.Store(&keyring{keys: keys, quantum: quantum(keys)})
	return s
}
