//go:build linux

package remote

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/seed-e1024768/async"
)

// A WaitCtx callback runs on the engine's receiving goroutine. These are
// the ways the application's code there can go wrong; none may hang an
// operation, lose one, or take the process down.

// callbackJob starts a job on a fresh pool and WaitCtx whose callback is
// cb, signing once through e; it returns the pool, the WaitCtx and the
// job's handle, paused.
func callbackJob(t *testing.T, e *Engine, kid string, cb func(pool *async.Pool, w *async.WaitCtx, job **async.Job)) (*async.Pool, *async.WaitCtx, **async.Job, chan error) {
	t.Helper()
	pool, err := async.NewPool(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := async.NewWaitCtx()
	job := new(*async.Job)
	ready := make(chan struct{})
	if err := w.SetCallback(func(any) int {
		<-ready
		cb(pool, w, job)
		return 1
	}, nil); err != nil {
		t.Fatal(err)
	}
	signed := make(chan error, 1)
	fn := func(ctx context.Context, _ []byte) int {
		_, err := e.Sign(ctx, kid, Ed25519, []byte("callback"))
		signed <- err
		return 7
	}
	if st, _, err := pool.StartJob(context.Background(), job, w, fn, nil); st != async.Pause {
		t.Fatalf("StartJob = %v, %v; want Pause", st, err)
	}
	close(ready)
	return pool, w, job, signed
}

// Fault: a callback that resumed its own job, on the receiving goroutine,
// found the request still being completed by that very goroutine and
// waited for it for ever.
func TestCallbackResumesOwnJob(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir)
	// Nothing deferred closes the engine or the pool: if the job
	// livelocks on the engine's goroutine, neither Close could return,
	// and the test must fail rather than hang.
	e, err := New(Config{Addrs: []string{s.Addr}, TLS: clientTLS(t, dir), Notify: NotifyAuto})
	if err != nil {
		t.Fatal(err)
	}
	kid := keyID(t, dir, "ed25519")
	finished := make(chan async.Status, 1)
	pool, w, _, signed := callbackJob(t, e, kid, func(pool *async.Pool, w *async.WaitCtx, job **async.Job) {
		st, _, _ := pool.StartJob(context.Background(), job, w, nil, nil)
		finished <- st
	})
	select {
	case st := <-finished:
		if st != async.Finish {
			t.Errorf("StartJob from the callback = %v; want Finish", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a callback that resumes its own job hangs")
	}
	if err := <-signed; err != nil {
		t.Errorf("Sign = %v", err)
	}
	pool.Close()
	w.Free()
	if err := e.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
}

// Fault: a callback that panicked killed the process from the engine's
// goroutine. Now the engine goes on serving, and the panic is reported as
// package engine says for every engine: by the operation it was called
// for, or, if that had its answer first, by Close.
func TestCallbackPanics(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir)
	e, err := New(Config{Addrs: []string{s.Addr}, TLS: clientTLS(t, dir), Notify: NotifyAuto})
	if err != nil {
		t.Fatal(err)
	}
	kid := keyID(t, dir, "ed25519")
	pool, w, job, signed := callbackJob(t, e, kid, func(*async.Pool, *async.WaitCtx, **async.Job) {
		panic("callback boom")
	})
	defer w.Free()
	defer pool.Close()
	// The callback fired (and panicked) once the answer came: the job can
	// be resumed and has its signature.
	waitFor(t, "the answer", func() bool { return e.Stats().Answered > 0 })
	var st async.Status
	for st = async.Pause; st == async.Pause; {
		time.Sleep(time.Millisecond)
		st, _, err = pool.StartJob(context.Background(), job, w, nil, nil)
	}
	if st != async.Finish || err != nil {
		t.Fatalf("resume = %v, %v; want Finish", st, err)
	}
	failure := <-signed
	// Still serving.
	if _, err := e.Sign(context.Background(), kid, Ed25519, []byte("after")); err != nil {
		t.Errorf("Sign after the panic = %v", err)
	}
	closeErr := e.Close()
	if failure == nil {
		failure = closeErr // the job had its answer before the panic
	} else if closeErr != nil {
		t.Errorf("Close = %v; Sign reported the panic already", closeErr)
	}
	var pe *PanicError
	if !errors.As(failure, &pe) || pe.Value != "callback boom" || !pe.Callback {
		t.Errorf("Sign and Close = %v; want the callback's *PanicError", failure)
	}
}

// A callback that calls runtime.Goexit ends the receiving goroutine; the
// rest of its batch is still answered, and the engine goes on.
func TestCallbackGoexits(t *testing.T) {
	_, dir, _ := testSignd(t)
	s := startSigner(t, dir, "-delay", "20ms")
	e := dial(t, Config{Notify: NotifyAuto, StreamsPerServer: 1}, s)
	kid := keyID(t, dir, "ed25519")
	pool, w, _, _ := callbackJob(t, e, kid, func(*async.Pool, *async.WaitCtx, **async.Job) {
		runtime.Goexit()
	})
	defer w.Free()
	defer pool.Close()
	// Blocking callers whose requests share the stream, and very likely
	// the batch, with the job's.
	const n = 32
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := e.Sign(context.Background(), kid, Ed25519, []byte("neighbour"))
			errs <- err
		}()
	}
	for range n {
		select {
		case err := <-errs:
			if err != nil {
				t.Errorf("Sign = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("an operation was lost when a callback called runtime.Goexit")
		}
	}
	if _, err := e.Sign(context.Background(), kid, Ed25519, []byte("after")); err != nil {
		t.Errorf("Sign after the Goexit = %v", err)
	}
}

// TestSweeperSurvivesGoexit guards item 9 of the signer audit: a WaitCtx
// callback that calls runtime.Goexit on the sweeper (the goroutine that
// wakes jobs whose deadline passed) no longer ends it: a later job whose
// deadline passes is still woken, and the Goexit is reported as a panic
// is, by the operation (or Close). (Before, the later job stayed paused
// for ever.)
func TestSweeperSurvivesGoexit(t *testing.T) {
	f := startFake(t, &fakeSigner{delay: time.Hour})
	kid, _ := fakeKey(Ed25519)
	_, dir, _ := testSignd(t)
	e, err := New(Config{Addrs: []string{f.addr}, TLS: clientTLS(t, dir), Notify: NotifyAuto})
	if err != nil {
		t.Fatal(err)
	}
	// start starts a job whose Sign has 50ms; its callback does cb.
	var firstErr error
	start := func(cb func()) (*async.Pool, *async.WaitCtx) {
		pool, err := async.NewPool(0, 0)
		if err != nil {
			t.Fatal(err)
		}
		w := async.NewWaitCtx()
		if err := w.SetCallback(func(any) int { cb(); return 1 }, nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		t.Cleanup(cancel)
		var job *async.Job
		fn := func(ctx context.Context, _ []byte) int {
			if _, err := e.Sign(ctx, kid, Ed25519, []byte("too late")); firstErr == nil {
				firstErr = err
			}
			return 0
		}
		if st, _, err := pool.StartJob(ctx, &job, w, fn, nil); st != async.Pause {
			t.Fatalf("StartJob = %v, %v; want Pause", st, err)
		}
		return pool, w
	}
	exited := make(chan struct{})
	p1, w1 := start(func() { close(exited); runtime.Goexit() })
	defer w1.Free()
	defer p1.Close()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the first job was not woken at its deadline")
	}
	woken := make(chan struct{}, 1)
	p2, w2 := start(func() { woken <- struct{}{} })
	defer w2.Free()
	defer p2.Close()
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("after a callback's Goexit on the sweeper, a job whose deadline passed is never woken")
	}
	closeErr := e.Close()
	p1.Close() // the first job, never resumed, unwinds: its Sign returns
	var pe *PanicError
	if !errors.As(firstErr, &pe) {
		firstErr = closeErr
	}
	if !errors.As(firstErr, &pe) || !errors.Is(firstErr, ErrGoexit) || !pe.Callback {
		t.Errorf("first Sign = %v, Close = %v; want a *PanicError for the Goexit", firstErr, closeErr)
	}
}

// TestSenderSurvivesGoexit: a WaitCtx callback that calls runtime.Goexit
// on a stream's sender (which completes a request whose signers failed
// it too often) neither loses the other requests it was moving nor ends
// the stream: later requests are still sent. (The same fault as item 9
// of the signer audit, on another of the engine's goroutines.)
func TestSenderSurvivesGoexit(t *testing.T) {
	f := startFake(t, &fakeSigner{})
	f.drop.Store(true)
	kid, _ := fakeKey(Ed25519)
	_, dir, _ := testSignd(t)
	e, err := New(Config{Addrs: []string{f.addr}, TLS: clientTLS(t, dir), Notify: NotifyAuto, StreamsPerServer: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	pool, w, _, _ := callbackJob(t, e, kid, func(*async.Pool, *async.WaitCtx, **async.Job) {
		runtime.Goexit()
	})
	defer w.Free()
	defer pool.Close()
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := e.Sign(context.Background(), kid, Ed25519, []byte("dropped"))
			errs <- err
		}()
	}
	for range n {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("Sign through a signer that drops every stream = %v; want ErrUnavailable", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a request was lost when a callback called runtime.Goexit on the sender")
		}
	}
	f.drop.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.Sign(ctx, kid, Ed25519, []byte("after")); err != nil {
		t.Errorf("Sign after the Goexit = %v", err)
	}
}
