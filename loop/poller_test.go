//go:build linux

package loop

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPoller(t *testing.T) {
	var zero poller
	zero.close() // a poller that never opened has nothing to close

	var p poller
	if err := p.open(4); err != nil {
		t.Fatal(err)
	}
	defer p.close()
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	if err := p.add(efd); err != nil {
		t.Fatal(err)
	}
	if err := p.add(efd); err != nil {
		t.Fatalf("adding an fd twice: %v, want nil", err)
	}

	// A regular file cannot be in an epoll set: the loop polls its slot.
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := p.add(int(f.Fd())); err != unix.EPERM {
		t.Fatalf("add(regular file) = %v, want EPERM", err)
	}

	if evs, err := p.poll(); len(evs) != 0 || err != nil {
		t.Fatalf("poll of an idle set = %v, %v", evs, err)
	}
	start := time.Now()
	if evs, err := p.park(20); len(evs) != 0 || err != nil {
		t.Fatalf("park(20ms) of an idle set = %v, %v", evs, err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("park(20ms) returned after %v", d)
	}

	go unix.Write(efd, one[:])
	evs, err := p.park(-1)
	if err != nil || len(evs) != 1 || int(evs[0].Fd) != efd {
		t.Fatalf("park(-1) with a readable fd = %v, %v", evs, err)
	}
	if evs, err := p.poll(); len(evs) != 1 || err != nil {
		t.Fatalf("poll: level-triggered fd not reported again: %v, %v", evs, err)
	}
	p.del(efd)
	if evs, err := p.poll(); len(evs) != 0 || err != nil {
		t.Fatalf("poll after del = %v, %v", evs, err)
	}
}
