//go:build linux

package remote

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/internal/signpb"
)

// TestPublicKeyPausesJob guards item 12 of the signer audit: PublicKey
// and Signer called inside a job pause the job while the signer is asked
// (they blocked its goroutine, here for the signer's 300ms), wake it as
// Sign does, and the key, once fetched, is kept: the next call in a job
// finishes without a pause.
func TestPublicKeyPausesJob(t *testing.T) {
	f := startFake(t, &fakeSigner{keyWait: 300 * time.Millisecond})
	ecID, _ := fakeKey(ECDSAP256SHA256)
	edID, ed := fakeKey(Ed25519)
	for _, m := range modes {
		t.Run(m.mode.String(), func(t *testing.T) {
			e := fakeEngine(t, f, Config{Notify: m.notify})
			pool, err := async.NewPool(0, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			w := async.NewWaitCtx()
			defer w.Free()
			woken := make(chan struct{}, 1)
			if m.notify == NotifyAuto {
				w.SetCallback(func(any) int { woken <- struct{}{}; return 1 }, nil)
			}
			// run runs fn as a job to its end, and reports whether it
			// paused.
			run := func(fn func(ctx context.Context) error) (paused bool) {
				var job *async.Job
				var ferr error
				body := func(ctx context.Context, _ []byte) int { ferr = fn(ctx); return 0 }
				start := time.Now()
				st, _, err := pool.StartJob(context.Background(), &job, w, body, nil)
				if d := time.Since(start); st == async.Pause && d > 200*time.Millisecond {
					t.Errorf("StartJob took %v before it paused", d)
				}
				for ; st == async.Pause; st, _, err = pool.StartJob(context.Background(), &job, w, nil, nil) {
					paused = true
					switch m.notify {
					case NotifyAuto:
						select {
						case <-woken:
						case <-time.After(10 * time.Second):
							t.Fatal("the job was not woken")
						}
					default:
						time.Sleep(time.Millisecond)
					}
				}
				if st != async.Finish || err != nil || ferr != nil {
					t.Fatalf("job: %v, %v, %v", st, err, ferr)
				}
				return paused
			}
			if !run(func(ctx context.Context) error {
				pub, err := e.PublicKey(ctx, edID)
				if err == nil && !pub.(ed25519.PublicKey).Equal(ed.Public()) {
					err = errors.New("the wrong key")
				}
				return err
			}) {
				t.Error("PublicKey in a job did not pause it")
			}
			if run(func(ctx context.Context) error { _, err := e.PublicKey(ctx, edID); return err }) {
				t.Error("PublicKey of a key fetched before paused the job")
			}
			if !run(func(ctx context.Context) error { _, err := e.Signer(ctx, ecID); return err }) {
				t.Error("Signer in a job did not pause it")
			}
		})
	}
}

// TestVerifySignatures guards item 10 of the signer audit (the engine's
// side): with Config.VerifySignatures, a signer whose signatures do not
// verify with the key it was asked for fails every operation with
// ErrBadSignature, and one that sends another key than asked for fails
// it too; without it, the engine trusts the signer. Good signatures pass,
// from jobs as from blocking callers.
func TestVerifySignatures(t *testing.T) {
	good := startFake(t, &fakeSigner{})
	bad := startFake(t, &fakeSigner{corrupt: true})
	liar := startFake(t, &fakeSigner{wrongID: true})
	lim := &signpb.Limits{MaxInFlight: 64, MaxInFlightBytes: 1 << 20, MaxBatch: 64}
	good.lim, bad.lim, liar.lim = lim, lim, lim
	for _, alg := range []Algorithm{ECDSAP256SHA256, Ed25519} {
		kid, _ := fakeKey(alg)
		msg := payload(alg, []byte("verify me"))
		e := fakeEngine(t, good, Config{VerifySignatures: true, Notify: NotifyAuto})
		if _, err := e.Sign(context.Background(), kid, alg, msg); err != nil {
			t.Errorf("%v, good signer: %v", alg, err)
		}
		if alg == Ed25519 { // signMany signs Ed25519
			if failed, first := signMany(t, e, 200); failed > 0 {
				t.Errorf("%v, good signer, jobs: %d failed: %v", alg, failed, first)
			}
		}
		e = fakeEngine(t, bad, Config{VerifySignatures: true})
		_, err := e.Sign(context.Background(), kid, alg, msg)
		if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), kid) {
			t.Errorf("%v, bad signatures: %v; want ErrBadSignature naming the key", alg, err)
		}
		e = fakeEngine(t, bad, Config{})
		if _, err := e.Sign(context.Background(), kid, alg, msg); err != nil {
			t.Errorf("%v, bad signatures, not verified: %v", alg, err)
		}
		e = fakeEngine(t, liar, Config{VerifySignatures: true})
		if _, err := e.Sign(context.Background(), kid, alg, msg); err == nil || !strings.Contains(err.Error(), "sent the key") {
			t.Errorf("%v, another key: %v; want an error", alg, err)
		}
	}
}
