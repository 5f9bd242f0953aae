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
