//go:build linux

package remote

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/loop"
)

// verify checks sig over msg (a message; hashed here for the digest
// algorithms) with the deployment's certificate for the key.
func verify(t testing.TB, pub crypto.PublicKey, alg Algorithm, msg, sig []byte) error {
	t.Helper()
	d := sha256.Sum256(msg)
	switch alg {
	case ECDSAP256SHA256:
		if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d[:], sig) {
			return errors.New("bad ECDSA signature")
		}
	case Ed25519:
		if !ed25519.Verify(pub.(ed25519.PublicKey), msg, sig) {
			return errors.New("bad Ed25519 signature")
		}
	case RSAPKCS1SHA256:
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, d[:], sig)
	case RSAPSSSHA256:
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, d[:], sig, nil)
	}
	return nil
}

// payload returns what Sign takes for msg: the message for Ed25519, else
// its SHA-256 digest.
func payload(alg Algorithm, msg []byte) []byte {
	if alg == Ed25519 {
		return msg
	}
	d := sha256.Sum256(msg)
	return d[:]
}

type keyCase struct {
	name string
	alg  Algorithm
}

var keyCases = []keyCase{
	{"ecdsap256", ECDSAP256SHA256},
	{"ed25519", Ed25519},
	{"rsa2048", RSAPKCS1SHA256},
	{"rsa2048", RSAPSSSHA256},
}

// TestSignBlocking signs with every algorithm outside a job, and checks
// each signature with the key's certificate.
func TestSignBlocking(t *testing.T) {
	_, dir, _ := testSignd(t)
	e := dial(t, Config{}, startSigner(t, dir))
	for _, k := range keyCases {
		msg := []byte("blocking " + k.alg.String())
		sig, err := e.Sign(context.Background(), keyID(t, dir, k.name), k.alg, payload(k.alg, msg))
		if err != nil {
			t.Fatalf("%v: %v", k.alg, err)
		}
		if err := verify(t, certOf(t, dir, k.name).PublicKey, k.alg, msg, sig); err != nil {
			t.Errorf("%v: %v", k.alg, err)
		}
	}
}

// runJobs signs n messages through loop.Run in mode, with inFlight jobs,
// and returns each task's signature (by index) and error.
func runJobs(ctx context.Context, e *Engine, mode loop.Mode, inFlight, n int, kid string, alg Algorithm) ([][]byte, []error, error) {
	sigs, errs := make([][]byte, n), make([]error, n)
	seen := make([]int, n)
	i := 0
	err := loop.Run(ctx, loop.Config{Mode: mode, InFlight: inFlight}, func() (loop.Task, bool) {
		if i == n {
			return loop.Task{}, false
		}
		k := i
		i++
		return loop.Task{Tag: k, Fn: func(ctx context.Context, _ []byte) int {
			sigs[k], errs[k] = e.Sign(ctx, kid, alg, payload(alg, msgOf(k)))
			return 0
		}}, true
	}, func(r loop.Result) {
		k := r.Tag.(int)
		seen[k]++
		if r.Err != nil && errs[k] == nil {
			errs[k] = r.Err
		}
	})
	for k, c := range seen[:i] {
		if c != 1 {
			return nil, nil, fmt.Errorf("task %d reported %d times", k, c)
		}
	}
	return sigs, errs, err
}

func msgOf(k int) []byte { return []byte(fmt.Sprintf("message %d", k)) }

var modes = []struct {
	mode   loop.Mode
	notify Notify
}{
	{loop.ModeFD, NotifyFD},
	{loop.ModeCallback, NotifyAuto},
	{loop.ModePoll, NotifyPoll},
}

// TestSignJobs signs through loop.Run in each mode, with every key, and
// checks every signature.
func TestSignJobs(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir)
	for _, m := range modes {
		t.Run(m.mode.String(), func(t *testing.T) {
			e := dial(t, Config{Notify: m.notify, AppParks: true}, s)
			for _, k := range keyCases {
				const n = 200
				sigs, errs, err := runJobs(context.Background(), e, m.mode, 32, n, keyID(t, dir, k.name), k.alg)
				if err != nil {
					t.Fatal(err)
				}
				pub := certOf(t, dir, k.name).PublicKey
				for i := range n {
					if errs[i] != nil {
						t.Fatalf("%v task %d: %v", k.alg, i, errs[i])
					}
					if err := verify(t, pub, k.alg, msgOf(i), sigs[i]); err != nil {
						t.Fatalf("%v task %d: %v", k.alg, i, err)
					}
				}
			}
			if st := e.Stats(); st.Batches >= st.Sent {
				t.Errorf("no batching: %d requests in %d batches", st.Sent, st.Batches)
			}
		})
	}
}

var _ = strings.Contains
var _ sync.Mutex
var _ atomic.Int32
var _ = time.Now
var _ async.Status
