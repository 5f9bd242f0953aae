//go:build linux

package remote

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/leaktest"
	"github.com/seed-e1024768/async/internal/signtest"
	"github.com/seed-e1024768/async/loop"
)

// TestFailover kills one of three signers with SIGKILL while it holds
// requests: each of them is sent again to another signer, so every
// operation (jobs through loop.Run, and blocking callers) is answered
// exactly once, without error, with a signature that verifies.
func TestFailover(t *testing.T) {
	_, dir, _ := testSignd(t)
	var ss []*signtest.Proc
	for range 3 {
		ss = append(ss, startSigner(t, dir, "-delay", "20ms"))
	}
	leaktest.Check(t)
	e := dial(t, Config{Notify: NotifyAuto, AppParks: true}, ss...)
	kid := keyID(t, dir, "ed25519")
	pub := certOf(t, dir, "ed25519").PublicKey

	// Kill the first signer once the run is well under way.
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for e.Stats().Answered < 150 {
			time.Sleep(time.Millisecond)
		}
		ss[0].Kill()
	}()

	// Blocking callers alongside the jobs.
	const goroutines, each = 16, 20
	var wg sync.WaitGroup
	gerrs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				msg := msgOf(100000 + g*each + i)
				sig, err := e.Sign(context.Background(), kid, Ed25519, msg)
				if err == nil {
					err = verify(t, pub, Ed25519, msg, sig)
				}
				if err != nil {
					gerrs <- err
				}
			}
		})
	}

	const n = 1500
	sigs, errs, err := runJobs(context.Background(), e, loop.ModeCallback, 64, n, kid, Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	<-killed
	close(gerrs)
	for err := range gerrs {
		t.Error("blocking caller:", err)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("task %d: %v", i, errs[i])
		}
		if err := verify(t, pub, Ed25519, msgOf(i), sigs[i]); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	st := e.Stats()
	t.Logf("%+v", st)
	if st.Failovers == 0 || st.Retries == 0 {
		t.Errorf("the killed signer held no request: %+v", st)
	}
}

// TestNoSigner: with no signer listening, an operation fails with
// ErrUnavailable, wrapping the connection's error and
// context.DeadlineExceeded, at its deadline (here Config.Timeout's);
// blocking and in a job alike.
func TestNoSigner(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir)
	s.Kill() // its port is now (very likely) closed
	e := dial(t, Config{Timeout: 200 * time.Millisecond, Notify: NotifyFD}, s)
	kid := keyID(t, dir, "ed25519")
	check := func(err error, took time.Duration) {
		t.Helper()
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v; want ErrUnavailable and DeadlineExceeded", err)
		}
		if took < 150*time.Millisecond || took > 3*time.Second {
			t.Errorf("failed after %v; want about 200ms", took)
		}
	}
	start := time.Now()
	_, err := e.Sign(context.Background(), kid, Ed25519, []byte("x"))
	check(err, time.Since(start))
	t.Log(err)

	// The caller's own deadline, shorter than the engine's Timeout, says
	// as much.
	long := dial(t, Config{Timeout: time.Minute, Notify: NotifyFD}, s)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = long.Sign(ctx, kid, Ed25519, []byte("x"))
	check(err, time.Since(start))

	start = time.Now()
	_, errs, err := runJobs(context.Background(), e, loop.ModeFD, 4, 4, kid, Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		check(err, time.Since(start))
	}
}

// TestHungSigner: a signer that stops answering (SIGSTOP: its connections
// stay open) fails its health checks; its streams are closed and the
// requests it held go to the other signer, so every operation is answered
// well before its deadline.
func TestHungSigner(t *testing.T) {
	_, dir, _ := testSignd(t)
	a, b := startSigner(t, dir, "-delay", "50ms"), startSigner(t, dir, "-delay", "50ms")
	leaktest.Check(t)
	e := dial(t, Config{Notify: NotifyAuto, HealthInterval: 100 * time.Millisecond, Timeout: 20 * time.Second}, a, b)
	kid := keyID(t, dir, "ed25519")
	pub := certOf(t, dir, "ed25519").PublicKey
	waitFor(t, "both signers up", func() bool { return e.current()[0].up() && e.current()[1].up() })
	go func() {
		for e.Stats().Sent < 40 {
			time.Sleep(time.Millisecond)
		}
		a.Cmd.Process.Signal(syscall.SIGSTOP)
	}()
	defer a.Cmd.Process.Signal(syscall.SIGCONT)
	start := time.Now()
	sigs, errs, err := runJobs(context.Background(), e, loop.ModeCallback, 32, 300, kid, Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sigs {
		if errs[i] != nil {
			t.Fatalf("task %d: %v", i, errs[i])
		}
		if err := verify(t, pub, Ed25519, msgOf(i), sigs[i]); err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
	if st := e.Stats(); st.Retries == 0 || !e.current()[0].sick.Load() {
		t.Errorf("the hung signer was not given up: %+v", st)
	}
}

// TestSignerRestart: with its only signer gone, an operation waits for
// one (within its deadline); the signer restarted on the same address is
// reconnected to and answers it.
func TestSignerRestart(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir)
	e := dial(t, Config{Notify: NotifyFD}, s)
	kid := keyID(t, dir, "ed25519")
	if _, err := e.Sign(context.Background(), kid, Ed25519, []byte("before")); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	waitFor(t, "the engine to see the signer gone", func() bool { return !e.current()[0].up() })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, err := e.Sign(ctx, kid, Ed25519, []byte("during"))
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("Sign returned with no signer up: %v", err)
	default:
	}
	startSigner(t, dir, "-listen", s.Addr) // the last -listen wins
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Sign still waits with the signer back")
	}
}
