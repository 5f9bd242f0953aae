//go:build linux

package remote

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/internal/leaktest"
)

// TestNoLeaks: an engine used in every mode, failed over, timed out and
// closed leaves no goroutine and no file descriptor behind.
func TestNoLeaks(t *testing.T) {
	_, dir, _ := testSignd(t)
	a, b := startSigner(t, dir), startSigner(t, dir)
	kid := keyID(t, dir, "ed25519")
	leaktest.Check(t) // from here on: the signers' watchers are older
	for _, m := range modes {
		e, err := New(Config{Addrs: []string{a.Addr, b.Addr}, TLS: clientTLS(t, dir), Notify: m.notify})
		if err != nil {
			t.Fatal(err)
		}
		if _, errs, err := runJobs(context.Background(), e, m.mode, 8, 50, kid, Ed25519); err != nil || errs[0] != nil {
			t.Fatal(err, errs[0])
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		e.Sign(ctx, kid, Ed25519, []byte("x"))
		cancel()
		if _, err := e.Sign(context.Background(), kid, Ed25519, []byte("x")); err != nil {
			t.Fatal(err)
		}
		e.Close()
		e.Close()
	}
	b.Kill()
	e, err := New(Config{Addrs: []string{a.Addr, b.Addr}, TLS: clientTLS(t, dir), Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		e.Sign(context.Background(), kid, Ed25519, []byte("x"))
	}
	e.Close()
}

// TestCloseInFlight: closing the engine while a signer holds requests from
// blocking callers and from jobs ends them all at once with ErrClosed, and
// every later operation returns ErrClosed.
func TestCloseInFlight(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir, "-delay", "10s")
	leaktest.Check(t)
	e := dial(t, Config{Notify: NotifyFD}, s)
	kid := keyID(t, dir, "ed25519")
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := e.Sign(context.Background(), kid, Ed25519, []byte("x"))
			errs <- err
		}()
	}
	var pool async.Pool
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()
	var job *async.Job
	var jerr error
	if st, _, err := pool.StartJob(context.Background(), &job, w, func(ctx context.Context, _ []byte) int {
		_, jerr = e.Sign(ctx, kid, Ed25519, []byte("y"))
		return 0
	}, nil); st != async.Pause {
		t.Fatalf("StartJob: %v, %v", st, err)
	}
	waitFor(t, "the signer to hold 9 requests", func() bool { return serverStats(t, s).Received == 9 })
	start := time.Now()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for range 8 {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrClosed) {
				t.Errorf("blocking caller: %v; want ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a blocking caller still waits after Close")
		}
	}
	fds := []unix.PollFd{{Fd: int32(w.AllFDs()[0]), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 5000); n != 1 {
		t.Fatalf("the job's wait fd is not readable after Close: %v", err)
	}
	if st, _, err := pool.StartJob(context.Background(), &job, w, nil, nil); st != async.Finish || err != nil {
		t.Fatalf("resume: %v, %v", st, err)
	}
	if !errors.Is(jerr, ErrClosed) {
		t.Errorf("job: %v; want ErrClosed", jerr)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close and its wake-ups took %v", d)
	}
	if _, err := e.Sign(context.Background(), kid, Ed25519, []byte("z")); !errors.Is(err, ErrClosed) {
		t.Errorf("Sign after Close: %v", err)
	}
	if _, err := e.PublicKey(context.Background(), kid); !errors.Is(err, ErrClosed) {
		t.Errorf("PublicKey after Close: %v", err)
	}
}

// TestNewBadConfig: New refuses a config it cannot use, with
// ErrBadConfig, and starts nothing.
func TestNewBadConfig(t *testing.T) {
	leaktest.Check(t)
	_, dir, _ := testSignd(t)
	tlsCfg := clientTLS(t, dir)
	for _, c := range []Config{
		{},
		{Addrs: []string{"127.0.0.1:1"}},
		{TLS: tlsCfg},
		{Addrs: []string{""}, TLS: tlsCfg},
		{Addrs: []string{"127.0.0.1:1"}, TLS: tlsCfg, MaxInFlight: -1},
		{Addrs: []string{"127.0.0.1:1"}, TLS: tlsCfg, StreamsPerServer: -1},
		{Addrs: []string{"127.0.0.1:1"}, TLS: tlsCfg, Timeout: -1},
		{Addrs: []string{"127.0.0.1:1"}, TLS: tlsCfg, Notify: 7},
	} {
		if e, err := New(c); !errors.Is(err, ErrBadConfig) {
			t.Errorf("New(%+v): %v; want ErrBadConfig", c, err)
			if e != nil {
				e.Close()
			}
		}
	}
}
