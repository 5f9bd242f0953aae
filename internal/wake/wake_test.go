//go:build linux

package wake

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
)

// engine stands for an engine: its pointer is the key.
type engine struct{ _ int }

func policy(key any, callback, fd bool) *Policy {
	return &Policy{Key: key, Callback: callback, FD: fd, Pkg: "testengine"}
}

// readable reports whether fd is readable now, without waiting.
func readable(t *testing.T, fd int) bool {
	t.Helper()
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(p, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		if p[0].Revents&unix.POLLNVAL != 0 {
			t.Fatalf("fd %d is not open", fd)
		}
		return n == 1
	}
}

// readableWithin reports whether fd becomes readable within d.
func readableWithin(t *testing.T, fd int, d time.Duration) bool {
	p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(p, int(d/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Errorf("poll: %v", err)
		}
		return n == 1
	}
}

// open reports whether fd is an open fd.
func open(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// openFDs counts the process's open fds.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open fds: %v", err)
	}
	return len(ents)
}

func setFD(t *testing.T, w *async.WaitCtx, p *Policy) *Wake {
	t.Helper()
	k := new(Wake)
	st, err := k.Set(w, p)
	if err != nil {
		t.Fatalf("Set: %v", err)
	}
	if st != async.StatusUnsupported || k.FD == nil || k.Callback != nil {
		t.Fatalf("Set = %v with FD %v, callback set %v; want StatusUnsupported with an FD only",
			st, k.FD, k.Callback != nil)
	}
	return k
}

func TestSignalDrain(t *testing.T) {
	w := async.NewWaitCtx()
	defer w.Free()
	k := setFD(t, w, policy(new(engine), false, true))
	defer k.Reset()
	fd := k.FD.fd
	if readable(t, fd) {
		t.Fatal("a new wait fd is readable")
	}
	k.FD.Drain() // not readable: must not block
	k.FD.Signal()
	k.FD.Signal()
	if !readable(t, fd) {
		t.Fatal("the wait fd is not readable after Signal")
	}
	k.FD.Drain()
	if readable(t, fd) {
		t.Fatal("the wait fd signaled twice is readable after one Drain")
	}
}

func TestOneFDPerEngine(t *testing.T) {
	e1, e2 := new(engine), new(engine)
	p1 := policy(e1, false, true)
	w := async.NewWaitCtx()
	defer w.Free()
	k1 := setFD(t, w, p1)
	defer k1.Reset()
	k2 := setFD(t, w, p1)
	defer k2.Reset()
	if k1.FD != k2.FD {
		t.Fatal("two operations of one WaitCtx and engine got two wait fds")
	}
	if fds := w.AllFDs(); len(fds) != 1 || fds[0] != k1.FD.fd {
		t.Fatalf("AllFDs = %v, want [%d]", fds, k1.FD.fd)
	}
	if fd, data, ok := w.FD(e1); !ok || fd != k1.FD.fd || data != any(k1.FD) {
		t.Fatalf("FD(key) = %d, %v, %v; want %d, the *FD, true", fd, data, ok, k1.FD.fd)
	}

	k3 := setFD(t, w, policy(e2, false, true))
	defer k3.Reset()
	if k3.FD == k1.FD || k3.FD.fd == k1.FD.fd {
		t.Fatal("two engines share a wait fd")
	}
	// Another WaitCtx of the same engine lists the same fd, as
	// QAT_Engine's do: one eventfd per engine, not per WaitCtx.
	w2 := async.NewWaitCtx()
	defer w2.Free()
	k4 := setFD(t, w2, p1)
	defer k4.Reset()
	if k4.FD != k1.FD {
		t.Fatal("two WaitCtxs of one engine got two wait fds")
	}
	if fds := w2.AllFDs(); len(fds) != 1 || fds[0] != k1.FD.fd {
		t.Fatalf("second WaitCtx's AllFDs = %v, want [%d]", fds, k1.FD.fd)
	}
}

// TestSharedFDCounts guards the fd-mode item of the engine contract
// (fd mode paying less per operation): a wait fd shared by many
// operations is readable exactly while one of them has signaled it and
// not drained it, whatever the order of signals and drains, so that no
// wake-up is lost and none outlives its operation.
func TestSharedFDCounts(t *testing.T) {
	p := policy(new(engine), false, true)
	w1, w2 := async.NewWaitCtx(), async.NewWaitCtx()
	defer w1.Free()
	defer w2.Free()
	k1, k2 := setFD(t, w1, p), setFD(t, w2, p)
	defer k1.Reset()
	defer k2.Reset()
	fd := k1.FD.fd
	k1.FD.Signal()
	k2.FD.Signal()
	k1.FD.Drain()
	if !readable(t, fd) {
		t.Fatal("drained by one operation, the fd lost the other's wake-up")
	}
	k2.FD.Drain()
	if readable(t, fd) {
		t.Fatal("readable after every operation drained it")
	}

	// A signal between the last drain's count and its read: the read
	// takes it, and the drain must write it again.
	k1.FD.Signal()
	testHookDrain = k2.FD.Signal
	k1.FD.Drain()
	testHookDrain = nil
	if !readable(t, fd) {
		t.Fatal("a signal that came as the fd was drained was lost")
	}
	k2.FD.Drain()
	if readable(t, fd) {
		t.Fatal("readable after every operation drained it")
	}

	// Signals and drains racing: each goroutine is an operation that
	// signals and later drains; the fd ends unreadable, and becomes
	// readable (at once, or once a drain racing with the signal has
	// written it again) whenever an operation has signaled and not
	// drained.
	const ops, rounds = 4, 2000
	done := make(chan struct{})
	for range ops {
		go func() {
			defer func() { done <- struct{}{} }()
			for range rounds {
				k1.FD.Signal()
				if !readableWithin(t, fd, time.Second) {
					t.Error("signaled and not drained, yet not readable: a wake-up was lost")
					return
				}
				k1.FD.Drain()
			}
		}()
	}
	for range ops {
		<-done
	}
	if readable(t, fd) || k1.FD.pending.Load() != 0 {
		t.Fatalf("after every signal was drained: readable %v, pending %d", readable(t, fd), k1.FD.pending.Load())
	}
}

func TestFreeCloses(t *testing.T) {
	w := async.NewWaitCtx()
	k := setFD(t, w, policy(new(engine), false, true))
	fd := k.FD.fd
	k.Reset()
	if k.FD != nil || !open(fd) {
		t.Fatal("Reset of the operation's reference closed the WaitCtx's fd, or kept the FD")
	}
	w.Free()
	if open(fd) {
		t.Fatal("the wait fd is open after WaitCtx.Free")
	}
}

// An operation in flight when its WaitCtx is freed keeps the fd open
// until it lets go, so that its late Signal writes to its own fd.
func TestFreeWhileHeld(t *testing.T) {
	w := async.NewWaitCtx()
	k := setFD(t, w, policy(new(engine), false, true))
	fd := k.FD.fd
	w.Free()
	if !open(fd) {
		t.Fatal("WaitCtx.Free closed a wait fd an operation still holds")
	}
	k.FD.Signal()
	if !readable(t, fd) {
		t.Fatal("the held wait fd is not readable after Signal")
	}
	k.Reset()
	if open(fd) {
		t.Fatal("the wait fd is open after its last reference went")
	}
}

func TestPolicy(t *testing.T) {
	calls := 0
	cb := func(arg any) int { *arg.(*int)++; return 1 }
	for _, tc := range []struct {
		name         string
		callback, fd bool // the policy
		hasCallback  bool // the WaitCtx
		want         async.EngineStatus
		wantFD       bool
		wantCallback bool
	}{
		{"auto/callback", true, true, true, async.StatusOK, false, true},
		{"auto/none", true, true, false, async.StatusUnsupported, true, false},
		{"fd/callback", false, true, true, async.StatusUnsupported, true, false},
		{"fd/none", false, true, false, async.StatusUnsupported, true, false},
		{"poll/callback", false, false, true, async.StatusUnsupported, false, false},
		{"poll/none", false, false, false, async.StatusUnsupported, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := async.NewWaitCtx()
			defer w.Free()
			if tc.hasCallback {
				if err := w.SetCallback(cb, &calls); err != nil {
					t.Fatal(err)
				}
			}
			var k Wake
			st, err := k.Set(w, policy(new(engine), tc.callback, tc.fd))
			if err != nil {
				t.Fatal(err)
			}
			defer k.Reset()
			if st != tc.want || (k.FD != nil) != tc.wantFD || (k.Callback != nil) != tc.wantCallback {
				t.Fatalf("Set = %v, FD %v, callback %v; want %v, %v, %v",
					st, k.FD != nil, k.Callback != nil, tc.want, tc.wantFD, tc.wantCallback)
			}
			if n := len(w.AllFDs()); n != map[bool]int{false: 0, true: 1}[tc.wantFD] {
				t.Fatalf("%d fds set in the WaitCtx", n)
			}
			if k.Callback != nil {
				before := calls
				k.Callback(k.Arg)
				if calls != before+1 {
					t.Fatal("the Wake's callback is not the WaitCtx's, with its arg")
				}
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	key := new(engine)
	before := openFDs(t)

	w := async.NewWaitCtx()
	w.Free()
	var k Wake
	if _, err := k.Set(w, policy(key, true, true)); !errors.Is(err, async.ErrFreed) {
		t.Fatalf("Set on a freed WaitCtx: %v, want ErrFreed", err)
	}
	if k.FD != nil || k.Callback != nil || k.Arg != nil {
		t.Fatal("a failed Set left the Wake set")
	}

	// Something else set under the engine's key: not the engine's FD.
	w = async.NewWaitCtx()
	defer w.Free()
	if err := w.SetWaitFD(key, 0, "not an *FD", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Set(w, policy(key, false, true)); !errors.Is(err, async.ErrKeyExists) {
		t.Fatalf("Set with another fd under the key: %v, want ErrKeyExists", err)
	}
	if after := openFDs(t); after != before {
		t.Fatalf("%d fds open after failed Sets, %d before: the eventfd leaked", after, before)
	}
}

// A failed eventfd(2) is reported as the engine's, wrapping the errno.
func TestEventfdError(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	// Fill every fd number under a lowered limit.
	low := lim
	low.Cur = uint64(openFDs(t) + 16)
	if low.Cur >= lim.Cur {
		t.Skip("the fd limit is already low")
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	var dups []int
	defer func() {
		for _, fd := range dups {
			unix.Close(fd)
		}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
			t.Errorf("restoring the fd limit: %v", err)
		}
	}()
	for range 2 * low.Cur {
		fd, err := unix.Dup(2)
		if err != nil {
			break
		}
		dups = append(dups, fd)
	}

	w := async.NewWaitCtx()
	defer w.Free()
	var k Wake
	_, err := k.Set(w, policy(new(engine), false, true))
	if !errors.Is(err, unix.EMFILE) || !strings.HasPrefix(err.Error(), "testengine: eventfd: ") {
		t.Fatalf("Set with no fd free: %v, want \"testengine: eventfd: ...\" wrapping EMFILE", err)
	}
	if k.FD != nil || k.Callback != nil || k.Arg != nil || len(w.AllFDs()) != 0 {
		t.Fatal("a failed Set left something set")
	}
}

// PauseRetry pauses with StatusEAGAIN and the fd readable, calls no
// callback, and drains the fd before it returns.
func TestPauseRetry(t *testing.T) {
	for _, mode := range []string{"fd", "callback"} {
		t.Run(mode, func(t *testing.T) {
			var pool async.Pool
			defer pool.Close()
			w := async.NewWaitCtx()
			defer w.Free()
			calls := 0
			if mode == "callback" {
				if err := w.SetCallback(func(any) int { calls++; return 1 }, nil); err != nil {
					t.Fatal(err)
				}
			}
			p := policy(new(engine), mode == "callback", true)
			var k Wake
			var fd int
			var retryErr error
			drained := false
			fn := func(ctx context.Context, _ []byte) int {
				if _, err := k.Set(w, p); err != nil {
					t.Error(err)
					return 0
				}
				if k.FD != nil {
					fd = k.FD.fd
				}
				retryErr = k.PauseRetry(ctx, w)
				drained = k.FD == nil || !readable(t, fd)
				k.Reset()
				return 1
			}
			var job *async.Job
			st, _, err := pool.StartJob(context.Background(), &job, w, fn, nil)
			if st != async.Pause {
				t.Fatalf("StartJob = %v, %v; want Pause", st, err)
			}
			if s := w.Status(); s != async.StatusEAGAIN {
				t.Fatalf("paused with status %v, want StatusEAGAIN", s)
			}
			if mode == "fd" && !readable(t, fd) {
				t.Fatal("paused to retry with the wait fd unreadable")
			}
			if calls != 0 {
				t.Fatal("PauseRetry called the callback")
			}
			st, ret, err := pool.StartJob(context.Background(), &job, w, fn, nil)
			if st != async.Finish || ret != 1 || retryErr != nil {
				t.Fatalf("resume = %v, %d, %v; PauseRetry = %v", st, ret, err, retryErr)
			}
			if !drained {
				t.Fatal("the wait fd was readable after PauseRetry returned")
			}
		})
	}
}

// PauseRetry returns PauseJob's error, and drains the fd then too.
func TestPauseRetryCanceled(t *testing.T) {
	var pool async.Pool
	defer pool.Close()
	w := async.NewWaitCtx()
	defer w.Free()
	var k Wake
	var retryErr error
	drained := false
	fn := func(ctx context.Context, _ []byte) int {
		if _, err := k.Set(w, policy(new(engine), false, true)); err != nil {
			t.Error(err)
			return 0
		}
		retryErr = k.PauseRetry(ctx, w)
		drained = !readable(t, k.FD.fd)
		k.Reset()
		return 1
	}
	var job *async.Job
	if st, _, err := pool.StartJob(context.Background(), &job, w, fn, nil); st != async.Pause {
		t.Fatalf("StartJob = %v, %v; want Pause", st, err)
	}
	if _, err := pool.CancelJob(&job); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(retryErr, async.ErrCanceled) || !drained {
		t.Fatalf("PauseRetry of a canceled job = %v, drained %v; want ErrCanceled, drained", retryErr, drained)
	}
}

func TestSetStatus(t *testing.T) {
	w := async.NewWaitCtx()
	SetStatus(w, async.StatusEAGAIN)
	SetStatus(w, async.StatusEAGAIN)
	if s := w.Status(); s != async.StatusEAGAIN {
		t.Fatalf("Status = %v, want StatusEAGAIN", s)
	}
	w.Free()
	SetStatus(w, async.StatusOK) // freed: ignored, must not panic
}

// Found by reading in the second core audit: Set found the WaitCtx's fd
// and only then took its reference, so a WaitCtx freed in between (by
// another goroutine) closed the fd first, and the engine then held a
// reference to a closed fd number, which it would write to and close
// again when the number was another file's.
func TestFreedBetweenLookupAndReference(t *testing.T) {
	w := async.NewWaitCtx()
	p := policy(new(engine), false, true)
	first := setFD(t, w, p) // the WaitCtx has its fd now
	fd := first.FD.fd
	first.Reset()

	testHookFound = w.Free
	t.Cleanup(func() { testHookFound = nil })
	k := new(Wake)
	st, err := k.Set(w, p)
	testHookFound = nil
	if open(fd) {
		t.Fatalf("fd %d still open after Free", fd)
	}
	// Another file takes the number, as it would in a busy process.
	var other [2]int
	if err := unix.Pipe2(other[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(other[0])
	defer unix.Close(other[1])
	if k.FD != nil {
		k.FD.Signal()
	}
	k.Reset()
	if !errors.Is(err, async.ErrFreed) || st != async.StatusUnsupported {
		t.Errorf("Set as the WaitCtx is freed = %v, %v; want ErrFreed", st, err)
	}
	for _, o := range other {
		if !open(o) {
			t.Errorf("the engine closed fd %d, another file's, after its WaitCtx was freed", o)
		}
	}
}
