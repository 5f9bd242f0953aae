//go:build linux

package offload_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/offload"
)

// exerciseOps runs every operation through e with ctx and checks the
// results; it reports how many operations it ran.
func exerciseOps(t testing.TB, ctx context.Context, e *offload.Engine, tag string) int {
	msg := []byte("message " + tag)
	digest := sha256.Sum256(msg)

	sig, err := e.SignECDSAP256(ctx, ecKey(), digest[:])
	if err != nil || !ecdsa.VerifyASN1(&ecKey().PublicKey, digest[:], sig) {
		t.Errorf("%s: SignECDSAP256: %v, signature verifies: false", tag, err)
	}

	sig, err = e.SignEd25519(ctx, edKey, msg)
	if err != nil || !ed25519.Verify(edKey.Public().(ed25519.PublicKey), msg, sig) {
		t.Errorf("%s: SignEd25519: %v, signature does not verify", tag, err)
	}

	sig, err = e.SignRSA2048(ctx, rsaKey(), digest[:])
	if err != nil {
		t.Errorf("%s: SignRSA2048: %v", tag, err)
	} else if err := rsa.VerifyPKCS1v15(&rsaKey().PublicKey, crypto.SHA256, digest[:], sig); err != nil {
		t.Errorf("%s: SignRSA2048 signature does not verify: %v", tag, err)
	}

	sum, err := e.SHA256(ctx, msg)
	if err != nil || sum != digest {
		t.Errorf("%s: SHA256 = %x, %v; want %x", tag, sum, err, digest)
	}

	nonce := make([]byte, aead().NonceSize())
	copy(nonce, tag)
	prefix := []byte("prefix")
	sealed, err := e.SealAESGCM(ctx, aead(), prefix, nonce, msg, []byte("ad"))
	want := aead().Seal([]byte("prefix"), nonce, msg, []byte("ad"))
	if err != nil || !bytes.Equal(sealed, want) {
		t.Errorf("%s: SealAESGCM = %x, %v; want %x", tag, sealed, err, want)
	} else if pt, err := aead().Open(nil, nonce, sealed[len(prefix):], []byte("ad")); err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("%s: SealAESGCM output does not open: %v", tag, err)
	}

	ran := false
	if err := e.Do(ctx, func() { ran = true }); err != nil || !ran {
		t.Errorf("%s: Do: %v, ran %v", tag, err, ran)
	}
	return 6
}

func TestNew(t *testing.T) {
	for _, cfg := range []offload.Config{
		{Depth: -1}, {Workers: -1}, {Notify: -1}, {Notify: offload.NotifyPoll + 1},
	} {
		if e, err := offload.New(cfg); !errors.Is(err, offload.ErrBadConfig) {
			t.Errorf("New(%+v) = %v, %v; want ErrBadConfig", cfg, e, err)
			if e != nil {
				e.Close()
			}
		}
	}
	e := newEngine(t, offload.Config{})
	got := e.Config()
	if got.Depth != offload.DefaultDepth || got.Workers != runtime.GOMAXPROCS(0) || got.Notify != offload.NotifyAuto || got.AppParks {
		t.Errorf("Config() = %+v", got)
	}
	want := offload.Config{Depth: 3, Workers: 1, Notify: offload.NotifyFD, AppParks: true}
	if got := newEngine(t, want).Config(); got != want {
		t.Errorf("Config() = %+v, want %+v", got, want)
	}
	if s := offload.NotifyPoll.String(); s != "NotifyPoll" {
		t.Errorf("String = %q", s)
	}
}

// TestSync runs every operation outside a job: synchronously, on the caller.
func TestSync(t *testing.T) {
	e := newEngine(t, offload.Config{Workers: 1})
	exerciseOps(t, context.Background(), e, "sync")
	exerciseOps(t, nil, e, "nil ctx") //nolint:staticcheck // nil ctx means no job
}

// TestModes runs every operation inside jobs, in each notification mode,
// and checks what the engine leaves in the WaitCtx.
func TestModes(t *testing.T) {
	for _, mode := range []waitMode{waitFD, waitCallback, waitPoll} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEngine(t, offload.Config{Workers: 2, Notify: notifyFor(mode)})
			pool := newPool(t)
			s := newSession(t, mode)
			defer s.w.Free()
			var firstFD []int
			for i := range 2 {
				var ops int
				_, pauses := s.run(pool, func(ctx context.Context, _ []byte) int {
					if async.CurrentJob(ctx) == nil {
						t.Error("not in a job")
					}
					ops = exerciseOps(t, ctx, e, fmt.Sprint(mode, i))
					return 0
				})
				if pauses != ops && !(mode == waitPoll && pauses > ops) {
					t.Errorf("job %d: %d pauses for %d operations", i, pauses, ops)
				}
				fds := s.w.AllFDs()
				switch mode {
				case waitFD:
					fd, _, ok := s.w.FD(e)
					if len(fds) != 1 || !ok || fd != fds[0] {
						t.Fatalf("fds %v, FD(e) = %d, %v; want one fd under the engine's key", fds, fd, ok)
					}
					if i == 0 {
						firstFD = fds
					} else if fds[0] != firstFD[0] {
						t.Errorf("wait fd changed from %d to %d", firstFD[0], fds[0])
					}
					if s.readable() {
						t.Error("wait fd left readable after the job finished")
					}
				case waitCallback:
					if len(fds) != 0 {
						t.Errorf("fds %v in callback mode", fds)
					}
					if st := s.w.Status(); st != async.StatusOK {
						t.Errorf("status %v in callback mode", st)
					}
					if n := len(s.calls); n != 0 {
						t.Errorf("%d callbacks more than pauses", n)
					}
				case waitPoll:
					if len(fds) != 0 {
						t.Errorf("fds %v in poll mode", fds)
					}
					if st := s.w.Status(); st != async.StatusUnsupported {
						t.Errorf("status %v in poll mode", st)
					}
				}
			}
		})
	}
}

// TestAutoWithoutCallback: NotifyAuto falls back to the wait fd.
func TestAutoWithoutCallback(t *testing.T) {
	e := newEngine(t, offload.Config{Workers: 1, Notify: offload.NotifyAuto})
	pool := newPool(t)
	s := newSession(t, waitFD)
	defer s.w.Free()
	s.run(pool, func(ctx context.Context, _ []byte) int {
		if err := e.Do(ctx, func() {}); err != nil {
			t.Error(err)
		}
		return 0
	})
	if _, _, ok := s.w.FD(e); !ok {
		t.Error("no wait fd under the engine's key")
	}
}

// TestFDIgnoresCallback: NotifyFD uses the fd even when there is a
// callback, and never calls it.
func TestFDIgnoresCallback(t *testing.T) {
	e := newEngine(t, offload.Config{Workers: 1, Notify: offload.NotifyFD})
	pool := newPool(t)
	s := newSession(t, waitCallback)
	defer s.w.Free()
	s.mode = waitFD
	s.run(pool, func(ctx context.Context, _ []byte) int {
		if _, err := e.SHA256(ctx, []byte("x")); err != nil {
			t.Error(err)
		}
		return 0
	})
	if n := len(s.calls); n != 0 {
		t.Errorf("callback called %d times in fd mode", n)
	}
	if st := s.w.Status(); st == async.StatusOK {
		t.Errorf("status %v in fd mode", st)
	}
}

func TestBadInput(t *testing.T) {
	e := newEngine(t, offload.Config{Workers: 1})
	pool := newPool(t)
	s := newSession(t, waitFD)
	defer s.w.Free()
	check := func(ctx context.Context) {
		errs := []error{}
		_, err := e.SignECDSAP256(ctx, nil, make([]byte, 32))
		errs = append(errs, err)
		_, err = e.SignEd25519(ctx, edKey[:10], nil)
		errs = append(errs, err)
		_, err = e.SignRSA2048(ctx, nil, make([]byte, 32))
		errs = append(errs, err)
		_, err = e.SignRSA2048(ctx, rsaKey(), make([]byte, 31))
		errs = append(errs, err)
		_, err = e.SealAESGCM(ctx, nil, nil, nil, nil, nil)
		errs = append(errs, err)
		_, err = e.SealAESGCM(ctx, aead(), nil, make([]byte, 3), nil, nil)
		errs = append(errs, err)
		errs = append(errs, e.Do(ctx, nil))
		for i, err := range errs {
			if !errors.Is(err, offload.ErrBadInput) {
				t.Errorf("case %d: %v; want ErrBadInput", i, err)
			}
		}
	}
	check(context.Background())
	_, pauses := s.run(pool, func(ctx context.Context, _ []byte) int { check(ctx); return 0 })
	if pauses != 0 {
		t.Errorf("bad input paused %d times", pauses)
	}
}

// TestSameResults: the deterministic operations give the same bytes
// offloaded and synchronously.
func TestSameResults(t *testing.T) {
	e := newEngine(t, offload.Config{Workers: 1})
	pool := newPool(t)
	s := newSession(t, waitFD)
	defer s.w.Free()
	ops := func(ctx context.Context) (out [][]byte) {
		sig, _ := e.SignEd25519(ctx, edKey, []byte("m"))
		sum, _ := e.SHA256(ctx, []byte("m"))
		sealed, _ := e.SealAESGCM(ctx, aead(), nil, make([]byte, 12), []byte("m"), nil)
		return [][]byte{sig, sum[:], sealed}
	}
	want := ops(context.Background())
	var got [][]byte
	s.run(pool, func(ctx context.Context, _ []byte) int { got = ops(ctx); return 0 })
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("op %d: offloaded %x, sync %x", i, got[i], want[i])
		}
	}
}

// TestSealInPlace: plaintext[:0] as dst encrypts in place, offloaded too.
func TestSealInPlace(t *testing.T) {
	e := newEngine(t, offload.Config{Workers: 1})
	pool := newPool(t)
	s := newSession(t, waitFD)
	defer s.w.Free()
	nonce := make([]byte, 12)
	want := aead().Seal(nil, nonce, []byte("plaintext"), nil)
	s.run(pool, func(ctx context.Context, _ []byte) int {
		buf := make([]byte, 9, 64)
		copy(buf, "plaintext")
		out, err := e.SealAESGCM(ctx, aead(), buf[:0], nonce, buf, nil)
		if err != nil || !bytes.Equal(out, want) || &out[0] != &buf[0] {
			t.Errorf("in place: %x, %v; want %x in buf", out, err, want)
		}
		return 0
	})
}

// TestSpuriousResume: a job resumed before its operation completes pauses
// again, leaves no stray wake-up, and gets the right result.
func TestSpuriousResume(t *testing.T) {
	for _, mode := range []waitMode{waitFD, waitCallback, waitPoll} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEngine(t, offload.Config{Workers: 1, Notify: notifyFor(mode)})
			pool := newPool(t)
			s := newSession(t, mode)
			defer s.w.Free()
			g := newGate()
			defer g.open() // a failure below must not leave the worker blocked
			var doErr error
			var sum [32]byte
			var sumErr error
			job := s.start(pool, func(ctx context.Context, _ []byte) int {
				doErr = e.Do(ctx, g.block)
				sum, sumErr = e.SHA256(ctx, []byte("after"))
				return 7
			})
			g.waitStarted(t)
			for range 3 {
				// Reset the status as package loop does before resuming:
				// the engine must say again what its pause waits for.
				s.w.SetStatus(async.StatusUnsupported)
				st, _, err := pool.StartJob(context.Background(), &job, s.w, nil, nil)
				if st != async.Pause {
					t.Fatalf("spurious resume: %v, %v; want ASYNC_PAUSE", st, err)
				}
				if s.readable() {
					t.Fatal("wait fd readable before completion")
				}
				if mode == waitCallback && (len(s.calls) != 0 || s.w.Status() != async.StatusOK) {
					t.Fatalf("callback mode: %d calls, status %v", len(s.calls), s.w.Status())
				}
			}
			g.open()
			if ret := s.finish(pool, job); ret != 7 {
				t.Errorf("ret %d", ret)
			}
			if doErr != nil || sumErr != nil || sum != sha256.Sum256([]byte("after")) {
				t.Errorf("Do: %v; SHA256: %x, %v", doErr, sum, sumErr)
			}
			if s.readable() || len(s.calls) != 0 {
				t.Errorf("stray wake-up: readable %v, %d calls", s.readable(), len(s.calls))
			}
		})
	}
}

// TestCancel cancels a job whose operation is queued in the ring, or
// running on the worker, then checks that its late completion neither
// wakes nor corrupts the next job on the same WaitCtx.
func TestCancel(t *testing.T) {
	for _, where := range []string{"queued", "running"} {
		for _, mode := range []waitMode{waitFD, waitCallback, waitPoll} {
			t.Run(where+"/"+mode.String(), func(t *testing.T) {
				testCancel(t, where, mode)
			})
		}
	}
}

func testCancel(t *testing.T, where string, mode waitMode) {
	e := newEngine(t, offload.Config{Workers: 1, Notify: notifyFor(mode)})
	pool := newPool(t)
	s := newSession(t, mode)
	defer s.w.Free()
	g := newGate()

	// Something to hold the worker while job A's operation is queued.
	var blocker *async.Job
	bs := newSession(t, mode)
	defer bs.w.Free()
	if where == "queued" {
		blocker = bs.start(pool, func(ctx context.Context, _ []byte) int {
			if err := e.Do(ctx, g.block); err != nil {
				t.Error("blocker:", err)
			}
			return 0
		})
		g.waitStarted(t)
	}

	var errA error
	var ranA atomic.Bool
	jobA := s.start(pool, func(ctx context.Context, _ []byte) int {
		if where == "running" {
			errA = e.Do(ctx, func() { g.block(); ranA.Store(true) })
		} else {
			_, errA = e.SignEd25519(ctx, edKey, []byte("A"))
		}
		return 11
	})
	if where == "running" {
		g.waitStarted(t)
	}
	ret, err := pool.CancelJob(&jobA)
	if ret != 11 || err != nil || !errors.Is(errA, async.ErrCanceled) {
		t.Fatalf("CancelJob: %d, %v; operation returned %v; want ErrCanceled", ret, err, errA)
	}

	// Job B on the same WaitCtx, queued behind the blocked worker while A's
	// request is still in the ring or on the worker.
	msgB := []byte("B")
	var sigB []byte
	var errB error
	jobB := s.start(pool, func(ctx context.Context, _ []byte) int {
		sigB, errB = e.SignEd25519(ctx, edKey, msgB)
		return 22
	})
	if s.readable() || (mode == waitCallback && len(s.calls) != 0) {
		t.Fatal("job B woken before the worker was released")
	}
	g.open()
	if blocker != nil {
		bs.finish(pool, blocker)
	}
	if ret := s.finish(pool, jobB); ret != 22 {
		t.Errorf("job B returned %d", ret)
	}
	if errB != nil || !ed25519.Verify(edKey.Public().(ed25519.PublicKey), msgB, sigB) {
		t.Errorf("job B: %v, signature does not verify", errB)
	}
	if where == "running" && !settle(ranA.Load) {
		t.Error("canceled fn never finished")
	}

	// And a third, which may well reuse A's request.
	for i := range 3 {
		msg := []byte{'C', byte(i)}
		s.run(pool, func(ctx context.Context, _ []byte) int {
			sig, err := e.SignEd25519(ctx, edKey, msg)
			if err != nil || !ed25519.Verify(edKey.Public().(ed25519.PublicKey), msg, sig) {
				t.Errorf("job C%d: %v, signature does not verify", i, err)
			}
			return 0
		})
	}
	if s.readable() || len(s.calls) != 0 {
		t.Errorf("stray wake-up from the canceled job: readable %v, %d calls", s.readable(), len(s.calls))
	}
}

// TestRingFull fills a ring of depth 1 behind a blocked worker: the next
// job pauses with StatusEAGAIN, again on each resume, until there is room.
func TestRingFull(t *testing.T) {
	for _, mode := range []waitMode{waitFD, waitCallback, waitPoll} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEngine(t, offload.Config{Depth: 1, Workers: 1, Notify: notifyFor(mode)})
			pool := newPool(t)
			g := newGate()
			var ran atomic.Int32
			sessions := make([]*session, 3)
			jobs := make([]*async.Job, 3)
			for i := range sessions {
				sessions[i] = newSession(t, mode)
				defer sessions[i].w.Free()
				fn := func() { ran.Add(1) }
				if i == 0 {
					fn = g.block
				}
				jobs[i] = sessions[i].start(pool, func(ctx context.Context, _ []byte) int {
					if err := e.Do(ctx, fn); err != nil {
						t.Errorf("job %d: %v", i, err)
					}
					return i
				})
				if i == 0 {
					g.waitStarted(t) // the worker holds job 0; the ring is empty
				}
			}
			s := sessions[2]
			for range 3 {
				if st := s.w.Status(); st != async.StatusEAGAIN {
					t.Fatalf("status %v with the ring full; want EAGAIN", st)
				}
				if mode == waitFD && !s.readable() {
					t.Fatal("wait fd not readable with EAGAIN")
				}
				st, _, err := pool.StartJob(context.Background(), &jobs[2], s.w, nil, nil)
				if st != async.Pause {
					t.Fatalf("resume with the ring full: %v, %v", st, err)
				}
			}
			if st := sessions[1].w.Status(); st == async.StatusEAGAIN {
				t.Errorf("job 1 status %v", st)
			}
			g.open()
			for i := range jobs {
				if ret := sessions[i].finish(pool, jobs[i]); ret != i {
					t.Errorf("job %d returned %d", i, ret)
				}
			}
			if n := ran.Load(); n != 2 {
				t.Errorf("%d functions ran; want 2", n)
			}
			for i, s := range sessions {
				if s.readable() || len(s.calls) != 0 {
					t.Errorf("session %d: stray wake-up", i)
				}
			}
		})
	}
}

// TestBlockPause: with pausing blocked the operation completes without
// pausing, and its wake-up is cleared.
func TestBlockPause(t *testing.T) {
	e := newEngine(t, offload.Config{Workers: 1, Notify: offload.NotifyFD})
	pool := newPool(t)
	s := newSession(t, waitFD)
	defer s.w.Free()
	_, pauses := s.run(pool, func(ctx context.Context, _ []byte) int {
		async.BlockPause(ctx)
		defer async.UnblockPause(ctx)
		sum, err := e.SHA256(ctx, []byte("blocked"))
		if err != nil || sum != sha256.Sum256([]byte("blocked")) {
			t.Errorf("SHA256: %x, %v", sum, err)
		}
		return 0
	})
	if pauses != 0 {
		t.Errorf("%d pauses with pausing blocked", pauses)
	}
	if s.readable() {
		t.Error("wait fd left readable")
	}
}

// TestClosePending: Close waits for the running operation; queued ones get
// ErrClosed; later calls get ErrClosed; a second Close returns nil.
func TestClosePending(t *testing.T) {
	for _, mode := range []waitMode{waitFD, waitCallback, waitPoll} {
		t.Run(mode.String(), func(t *testing.T) {
			e, err := offload.New(offload.Config{Depth: 4, Workers: 1, Notify: notifyFor(mode)})
			if err != nil {
				t.Fatal(err)
			}
			pool := newPool(t)
			g := newGate()
			var ran atomic.Int32
			errs := make([]error, 3)
			sessions := make([]*session, 3)
			jobs := make([]*async.Job, 3)
			for i := range jobs {
				sessions[i] = newSession(t, mode)
				defer sessions[i].w.Free()
				fn := func() { ran.Add(1) }
				if i == 0 {
					fn = g.block
				}
				jobs[i] = sessions[i].start(pool, func(ctx context.Context, _ []byte) int {
					errs[i] = e.Do(ctx, fn)
					return 0
				})
				if i == 0 {
					g.waitStarted(t)
				}
			}
			closed := make(chan error)
			go func() { closed <- e.Close() }()
			if !settle(func() bool { return errors.Is(e.Do(context.Background(), func() {}), offload.ErrClosed) }) {
				t.Fatal("engine not closing")
			}
			select {
			case <-closed:
				t.Fatal("Close returned with a worker still running")
			default:
			}
			// A job started now fails at once.
			s := newSession(t, mode)
			defer s.w.Free()
			_, pauses := s.run(pool, func(ctx context.Context, _ []byte) int {
				if _, err := e.SignEd25519(ctx, edKey, nil); !errors.Is(err, offload.ErrClosed) {
					t.Errorf("after Close: %v; want ErrClosed", err)
				}
				return 0
			})
			if pauses != 0 {
				t.Errorf("%d pauses after Close", pauses)
			}
			g.open()
			for i := range jobs {
				sessions[i].finish(pool, jobs[i])
			}
			if err := <-closed; err != nil {
				t.Errorf("Close: %v", err)
			}
			if errs[0] != nil {
				t.Errorf("running operation: %v", errs[0])
			}
			for i := 1; i < 3; i++ {
				if !errors.Is(errs[i], offload.ErrClosed) {
					t.Errorf("queued operation %d: %v; want ErrClosed", i, errs[i])
				}
			}
			if n := ran.Load(); n != 0 {
				t.Errorf("%d queued functions ran after Close", n)
			}
			if err := e.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if _, err := e.SHA256(context.Background(), nil); !errors.Is(err, offload.ErrClosed) {
				t.Errorf("SHA256 after Close: %v", err)
			}
		})
	}
}

// TestPoolClosed: closing the job's pool while its operation runs makes the
// operation return async.ErrClosed.
func TestPoolClosed(t *testing.T) {
	e := newEngine(t, offload.Config{Workers: 1, Notify: offload.NotifyFD})
	pool := newPool(t)
	s := newSession(t, waitFD)
	defer s.w.Free()
	g := newGate()
	defer g.open()
	var opErr error
	s.start(pool, func(ctx context.Context, _ []byte) int {
		opErr = e.Do(ctx, g.block)
		return 0
	})
	g.waitStarted(t)
	if err := pool.Close(); !errors.Is(err, async.ErrJobsOutstanding) {
		t.Errorf("pool.Close: %v", err)
	}
	if !errors.Is(opErr, async.ErrClosed) {
		t.Errorf("operation: %v; want async.ErrClosed", opErr)
	}
}

// TestDoPanic: a panic in Do's fn reaches the caller, offloaded or not.
func TestDoPanic(t *testing.T) {
	e := newEngine(t, offload.Config{Workers: 1, Notify: offload.NotifyFD})
	pool := newPool(t)
	s := newSession(t, waitFD)
	defer s.w.Free()
	var job *async.Job
	st, _, err := pool.StartJob(context.Background(), &job, s.w, func(ctx context.Context, _ []byte) int {
		e.Do(ctx, func() { panic("boom") })
		return 0
	}, nil)
	for st == async.Pause {
		s.wait()
		st, _, err = pool.StartJob(context.Background(), &job, s.w, nil, nil)
	}
	var pe *async.PanicError
	if st != async.Err || !errors.As(err, &pe) || pe.Value != "boom" {
		t.Errorf("StartJob: %v, %v; want a PanicError boom", st, err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("sync Do recovered %v", v)
			}
		}()
		e.Do(context.Background(), func() { panic("boom") })
	}()
	// The engine still works.
	s.run(pool, func(ctx context.Context, _ []byte) int {
		if err := e.Do(ctx, func() {}); err != nil {
			t.Error(err)
		}
		return 0
	})
}

// TestFreeInFlight: freeing the WaitCtx while its job's operation runs
// neither closes the fd under the worker nor leaks it.
func TestFreeInFlight(t *testing.T) {
	base := countFDs(t)
	e := newEngine(t, offload.Config{Workers: 1, Notify: offload.NotifyFD})
	pool := newPool(t)
	s := newSession(t, waitFD)
	g := newGate()
	defer g.open()
	var opErr error
	job := s.start(pool, func(ctx context.Context, _ []byte) int {
		opErr = e.Do(ctx, g.block)
		return 0
	})
	g.waitStarted(t)
	if n := countFDs(t); n != base+1 {
		t.Errorf("%d fds with one wait fd; base %d", n, base)
	}
	s.w.Free()
	if st, _, err := pool.StartJob(context.Background(), &job, s.w, nil, nil); st != async.Err || !errors.Is(err, async.ErrFreed) {
		t.Fatalf("resume after Free: %v, %v", st, err)
	}
	if n := countFDs(t); n != base+1 {
		t.Errorf("wait fd closed while in flight: %d fds, base %d", n, base)
	}
	if _, err := pool.CancelJob(&job); err != nil || !errors.Is(opErr, async.ErrCanceled) {
		t.Fatalf("CancelJob: %v; operation %v", err, opErr)
	}
	g.open()
	if !settle(func() bool { return countFDs(t) == base }) {
		t.Errorf("%d fds after the late completion; base %d", countFDs(t), base)
	}
}

// TestNoLeaks: after the WaitCtxs are freed and the engine and pool
// closed, no fd or goroutine is left behind.
func TestNoLeaks(t *testing.T) {
	runtime.GC()
	baseFDs, baseG := countFDs(t), goleak.IgnoreCurrent()
	e, err := offload.New(offload.Config{Workers: 3, Depth: 2})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := async.NewPool(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		mode := []waitMode{waitFD, waitCallback}[i%2]
		s := newSession(t, mode)
		wg.Go(func() {
			defer s.w.Free()
			for j := range 5 {
				s.run(pool, func(ctx context.Context, _ []byte) int {
					msg := []byte{byte(i), byte(j)}
					sig, err := e.SignEd25519(ctx, edKey, msg)
					if err != nil || !ed25519.Verify(edKey.Public().(ed25519.PublicKey), msg, sig) {
						t.Errorf("%v, signature does not verify", err)
					}
					return 0
				})
			}
		})
	}
	wg.Wait()
	if n := countFDs(t); n != baseFDs {
		t.Errorf("%d fds after freeing the WaitCtxs; base %d", n, baseFDs)
	}
	if err := pool.Close(); err != nil {
		t.Error(err)
	}
	if err := e.Close(); err != nil {
		t.Error(err)
	}
	goleak.VerifyNone(t, baseG) // the workers and the jobs are gone
	if n := countFDs(t); n != baseFDs {
		t.Errorf("%d fds after Close; base %d", n, baseFDs)
	}
}

// TestConcurrent runs many jobs from several goroutines through a small
// ring, in fd and callback modes, with cancellations mixed in.
func TestConcurrent(t *testing.T) {
	e := newEngine(t, offload.Config{Workers: 2, Depth: 2})
	pool := newPool(t)
	var wg sync.WaitGroup
	for i := range 4 {
		mode := []waitMode{waitFD, waitCallback}[i%2]
		s := newSession(t, mode)
		wg.Go(func() {
			defer s.w.Free()
			for j := range 30 {
				msg := []byte{byte(i), byte(j)}
				fn := func(ctx context.Context, _ []byte) int {
					sum, err := e.SHA256(ctx, msg)
					if err == nil && sum != sha256.Sum256(msg) {
						t.Errorf("SHA256(%x) = %x", msg, sum)
					}
					if err != nil {
						return 1
					}
					sig, err := e.SignEd25519(ctx, edKey, msg)
					if err == nil && !ed25519.Verify(edKey.Public().(ed25519.PublicKey), msg, sig) {
						t.Errorf("signature of %x does not verify", msg)
					}
					if err != nil {
						return 1
					}
					return 0
				}
				if j%3 != 2 {
					if ret, _ := s.run(pool, fn); ret != 0 {
						t.Errorf("job %d/%d failed", i, j)
					}
					continue
				}
				// Cancel at the first pause.
				var job *async.Job
				st, _, err := pool.StartJob(context.Background(), &job, s.w, fn, nil)
				if st == async.Pause {
					if ret, err := pool.CancelJob(&job); ret != 1 || err != nil {
						t.Errorf("CancelJob: %d, %v", ret, err)
					}
				} else if st != async.Finish {
					t.Errorf("StartJob: %v, %v", st, err)
				}
				// Drop a callback that may have come for the canceled
				// operation before it was canceled.
				for len(s.calls) > 0 {
					<-s.calls
				}
			}
		})
	}
	wg.Wait()
}
