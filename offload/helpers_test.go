//go:build linux

package offload_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
	"github.com/seed-e1024768/async/internal/leaktest"
	"github.com/seed-e1024768/async/offload"
)

// waitMode is how a test driver waits for a paused job.
type waitMode int

const (
	waitFD       waitMode = iota // poll the WaitCtx's fds
	waitCallback                 // wait for the callback to signal a channel
	waitPoll                     // resume at once
)

func (m waitMode) String() string {
	return [...]string{"fd", "callback", "poll"}[m]
}

// notifyFor is the engine mode that pairs with a driver mode.
func notifyFor(m waitMode) offload.Notify {
	return [...]offload.Notify{offload.NotifyFD, offload.NotifyAuto, offload.NotifyPoll}[m]
}

// session is one WaitCtx with the means to wait on it.
type session struct {
	t     testing.TB
	mode  waitMode
	w     *async.WaitCtx
	calls chan struct{} // callback mode: one token per callback call
	fds   []int
	pfds  []unix.PollFd
}

func newSession(t testing.TB, mode waitMode) *session {
	s := &session{t: t, mode: mode, w: async.NewWaitCtx()}
	if mode == waitCallback {
		s.calls = make(chan struct{}, 16)
		err := s.w.SetCallback(func(arg any) int {
			select {
			case arg.(chan struct{}) <- struct{}{}:
			default:
				panic("callback channel full")
			}
			return 1
		}, s.calls)
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// wait waits until the paused job of the session should be resumed.
func (s *session) wait() {
	s.t.Helper()
	if s.w.Status() == async.StatusEAGAIN {
		return // resume at once to retry
	}
	switch s.mode {
	case waitFD:
		s.fds = s.w.AppendAllFDs(s.fds[:0])
		if len(s.fds) == 0 {
			s.t.Fatal("paused in fd mode with no wait fd")
		}
		if !pollFDs(s.t, s.fds, &s.pfds, 10*time.Second) {
			s.t.Fatal("timed out waiting for the wait fd")
		}
	case waitCallback:
		if st := s.w.Status(); st != async.StatusOK {
			s.t.Fatalf("paused in callback mode with status %v", st)
		}
		select {
		case <-s.calls:
		case <-time.After(10 * time.Second):
			s.t.Fatal("timed out waiting for the callback")
		}
	case waitPoll:
		runtime.Gosched()
	}
}

// readable reports whether the session's wait fd is readable now, without
// waiting; false when it has none.
func (s *session) readable() bool {
	s.t.Helper()
	fds := s.w.AllFDs()
	if len(fds) == 0 {
		return false
	}
	var p []unix.PollFd
	return pollFDs(s.t, fds, &p, 0)
}

// pollFDs waits up to d for one of fds to be readable.
func pollFDs(t testing.TB, fds []int, pfds *[]unix.PollFd, d time.Duration) bool {
	t.Helper()
	p := (*pfds)[:0]
	for _, fd := range fds {
		p = append(p, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	*pfds = p
	deadline := time.Now().Add(d)
	for {
		ms := int(time.Until(deadline) / time.Millisecond)
		if ms < 0 {
			ms = 0
		}
		n, err := unix.Poll(p, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal("poll:", err)
		}
		return n > 0
	}
}

// run starts a job running fn on pool with the session's WaitCtx and
// drives it to its end, returning fn's result and the number of pauses.
func (s *session) run(pool *async.Pool, fn async.Func) (ret, pauses int) {
	s.t.Helper()
	var job *async.Job
	st, ret, err := pool.StartJob(context.Background(), &job, s.w, fn, nil)
	for st == async.Pause {
		pauses++
		s.wait()
		st, ret, err = pool.StartJob(context.Background(), &job, s.w, nil, nil)
	}
	if st != async.Finish {
		s.t.Fatalf("StartJob: %v, %v", st, err)
	}
	return ret, pauses
}

// start starts a job and expects it to pause.
func (s *session) start(pool *async.Pool, fn async.Func) *async.Job {
	s.t.Helper()
	var job *async.Job
	st, _, err := pool.StartJob(context.Background(), &job, s.w, fn, nil)
	if st != async.Pause {
		s.t.Fatalf("StartJob: %v, %v; want ASYNC_PAUSE", st, err)
	}
	return job
}

// finish drives a paused job to its end and returns its result.
func (s *session) finish(pool *async.Pool, job *async.Job) int {
	s.t.Helper()
	for {
		s.wait()
		st, ret, err := pool.StartJob(context.Background(), &job, s.w, nil, nil)
		switch st {
		case async.Pause:
			continue
		case async.Finish:
			return ret
		}
		s.t.Fatalf("StartJob: %v, %v", st, err)
	}
}

func newEngine(t testing.TB, cfg offload.Config) *offload.Engine {
	t.Helper()
	e, err := offload.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func newPool(t testing.TB) *async.Pool {
	t.Helper()
	pool, err := async.NewPool(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

// gate blocks a worker: Do(ctx, g.block) runs until open is called.
type gate struct {
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate() *gate {
	return &gate{started: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gate) block() {
	g.started <- struct{}{}
	<-g.release
}

func (g *gate) waitStarted(t testing.TB) {
	t.Helper()
	select {
	case <-g.started:
	case <-time.After(10 * time.Second):
		t.Fatal("gate never reached")
	}
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// Test keys, made once.
var (
	ecKey  = sync.OnceValue(func() *ecdsa.PrivateKey { return must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	rsaKey = sync.OnceValue(func() *rsa.PrivateKey { return must(rsa.GenerateKey(rand.Reader, 2048)) })
	edKey  = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	aead   = sync.OnceValue(func() cipher.AEAD {
		return must(cipher.NewGCM(must(aes.NewCipher([]byte("0123456789abcdef")))))
	})
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// countFDs returns the number of open fds of the process.
func countFDs(t testing.TB) int {
	t.Helper()
	return leaktest.CountFDs(t)
}

// settle retries cond for up to a second.
func settle(cond func() bool) bool {
	deadline := time.Now().Add(2 * time.Second)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
