//go:build linux

package wake

import (
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/seed-e1024768/async"
)

// bell counts the Signals it is told of.
type bell struct{ rung atomic.Int32 }

func (b *bell) Signaled() { b.rung.Add(1) }

// A watcher hears of every Signal, not only the one that makes the fd
// readable, and of none after Unwatch; the fd is written all the same,
// for whoever waits on it with poll or epoll.
func TestWatch(t *testing.T) {
	w := async.NewWaitCtx()
	defer w.Free()
	k := setFD(t, w, policy(new(engine), false, true))
	defer k.Reset()
	f := Lookup(k.FD.fd)
	if f != k.FD {
		t.Fatalf("Lookup(%d) = %p, want the engine's wait fd %p", k.FD.fd, f, k.FD)
	}
	defer f.Release()

	var b1, b2 bell
	f.Watch(&b1)
	f.Watch(&b2)
	if f.Ready() {
		t.Fatal("a new wait fd is ready")
	}
	f.Signal()
	f.Signal() // readable already: rings all the same
	if got := b1.rung.Load(); got != 2 {
		t.Fatalf("first watcher told of %d Signals, want 2", got)
	}
	if !f.Ready() || !readable(t, f.fd) {
		t.Fatal("a watched wait fd is not ready and readable after Signal")
	}
	f.Unwatch(&b1)
	f.Drain()
	f.Drain()
	if f.Ready() || readable(t, f.fd) {
		t.Fatal("the wait fd is ready or readable after every Signal was drained")
	}
	f.Signal()
	f.Drain()
	if got1, got2 := b1.rung.Load(), b2.rung.Load(); got1 != 2 || got2 != 3 {
		t.Fatalf("watchers told of %d and %d Signals, want 2 (unwatched) and 3", got1, got2)
	}
}

// Lookup finds only this module's wait fds, and only while they are open:
// never a number closed meanwhile, nor another file that reuses it.
func TestLookup(t *testing.T) {
	if f := Lookup(0); f != nil {
		t.Fatal("Lookup(0) found stdin")
	}
	p := policy(new(engine), false, true)
	w := async.NewWaitCtx()
	k := setFD(t, w, p)
	fd := k.FD.fd
	held := Lookup(fd)
	if held == nil {
		t.Fatal("Lookup of an open wait fd found nothing")
	}
	k.Reset()
	w.Free()
	if !open(fd) {
		t.Fatal("the wait fd closed while Lookup's reference was held")
	}
	held.Release()
	if open(fd) {
		t.Fatal("the wait fd stayed open after its last reference went")
	}
	if f := Lookup(fd); f != nil {
		t.Fatal("Lookup found a closed wait fd")
	}

	// The number, reused by a file of someone else's, is not a wait fd.
	other, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(other)
	if f := Lookup(other); f != nil {
		t.Fatalf("Lookup(%d) found a wait fd in another eventfd", other)
	}
}

// The operations of a WaitCtx watched for the fd (WatchFor) neither write
// nor read it, nor ring its watchers: their Signals tell the WaitCtx's own
// watcher alone. Every other WaitCtx's operations make it readable and
// ring as before, and an operation that signaled quietly drains quietly,
// even after UnwatchFor.
func TestWatchFor(t *testing.T) {
	p := policy(new(engine), false, true)
	watched, other := async.NewWaitCtx(), async.NewWaitCtx()
	defer watched.Free()
	defer other.Free()
	kw, ko := setFD(t, watched, p), setFD(t, other, p)
	defer kw.Reset()
	defer ko.Reset()
	f := kw.FD
	var fdWide, own bell
	f.Watch(&fdWide)
	defer f.Unwatch(&fdWide)
	f.WatchFor(watched, &own)

	kw.Signal()
	if f.Ready() || readable(t, f.fd) || own.rung.Load() != 1 || fdWide.rung.Load() != 0 {
		t.Fatalf("after a watched WaitCtx's Signal: ready %v, readable %v, its watcher told %d times, the fd's %d; want neither ready nor readable, 1 and 0",
			f.Ready(), readable(t, f.fd), own.rung.Load(), fdWide.rung.Load())
	}
	ko.Signal()
	if !f.Ready() || !readable(t, f.fd) || own.rung.Load() != 1 || fdWide.rung.Load() != 1 {
		t.Fatalf("after another WaitCtx's Signal: ready %v, readable %v, told %d and %d times; want ready, readable, 1 and 1",
			f.Ready(), readable(t, f.fd), own.rung.Load(), fdWide.rung.Load())
	}
	f.UnwatchFor(watched)
	kw.Drain() // quiet still: must not eat the other's wake-up
	if !readable(t, f.fd) || !f.Ready() {
		t.Fatal("a quiet Drain took the fd's readability from another WaitCtx's operation")
	}
	ko.Drain()
	if readable(t, f.fd) || f.Ready() {
		t.Fatal("the fd is readable or ready after every Signal was drained")
	}
	kw.Signal() // unwatched now: loud
	if !readable(t, f.fd) || own.rung.Load() != 1 || fdWide.rung.Load() != 2 {
		t.Fatal("after UnwatchFor, the WaitCtx's Signal did not make the fd readable and ring it")
	}
	kw.Drain()
	if readable(t, f.fd) || f.Ready() {
		t.Fatal("the fd is readable or ready after its Signal was drained")
	}
}
