//go:build linux

package wake

import (
	"slices"
	"sync"

	"github.com/seed-e1024768/async"
)

// An application that waits on wait fds learns that one is readable from
// the kernel: epoll, and a thread the kernel wakes. For the wait fds of
// this module's engines an application of this module (package loop) can
// learn it sooner, from the goroutine that signals the fd: it looks the fd
// up by number (Lookup), and watches it (Watch). Each Signal then calls its
// Watcher, after the fd is ready, and the Watcher readies the parked
// application directly, as a WaitCtx callback would: no system call and no
// netpoller on the way. The application says for which of its WaitCtxs it
// watches (WatchFor): their jobs' Signals need not write the fd, nor their
// Drains read it. Every other job's Signal writes it just the same, so the
// contract of wait fds holds for everyone else who waits on it.

// A Watcher is told that a wait fd it watches was signaled (see Watch), or
// that an operation of a WaitCtx it watches the fd for completed (see
// WatchFor). Signaled runs on the signaling goroutine, after the fd is
// ready (see Ready) or, for a WaitCtx watched for, instead of making it
// so: it must be short and must not block.
type Watcher interface {
	Signaled()
}

// registry maps the number of each open wait fd to its *FD, for Lookup.
// Its keys are fd numbers, which belong to the whole process; an FD leaves
// it before its number is closed, so a number is never found for a file
// that is not the FD's.
var registry sync.Map // int → *FD

// Lookup returns the wait fd numbered fd, with a reference taken that the
// caller drops with Release; nil when fd is not an open wait fd of this
// module.
func Lookup(fd int) *FD {
	v, ok := registry.Load(fd)
	if !ok {
		return nil
	}
	f := v.(*FD)
	if !f.ref() {
		return nil
	}
	return f
}

// Release drops a reference Lookup took.
func (f *FD) Release() { f.unref() }

// Ready reports whether f is readable: some operation that signaled it
// loudly (see WatchFor) has not drained it yet.
func (f *FD) Ready() bool { return f.pending.Load() > 0 }

// WatchFor says that the jobs of w are woken by their application when it
// is told, by wk, that their operation completed, and never by f being
// readable: their operations' Signals then call wk.Signaled instead of
// writing the fd (and ringing f's watchers), and their Drains skip the
// read, but for those that signaled before WatchFor. The application that
// owns w (package loop) calls it while it watches f, and UnwatchFor
// before it stops, or before it lets w be listed by anyone who polls f.
func (f *FD) WatchFor(w *async.WaitCtx, wk Watcher) { f.watched.Store(w, wk) }

// UnwatchFor undoes WatchFor(w, ...).
func (f *FD) UnwatchFor(w *async.WaitCtx) { f.watched.Delete(w) }

// signalFor signals f for an operation of the job whose WaitCtx is w, and
// reports whether it did so quietly: by telling w's watcher alone (see
// WatchFor), without writing the fd.
func (f *FD) signalFor(w *async.WaitCtx) bool {
	if v, ok := f.watched.Load(w); ok {
		v.(Watcher).Signaled()
		return true
	}
	f.Signal()
	return false
}

// drainFor takes back one Signal, unless it was quiet.
func (f *FD) drainFor(quiet bool) {
	if !quiet {
		f.Drain()
	}
}

// Watch has w told of every later Signal of f, until Unwatch.
func (f *FD) Watch(w Watcher) {
	f.watchMu.Lock()
	old := f.watching()
	ws := make([]Watcher, 0, len(old)+1)
	ws = append(append(ws, old...), w)
	f.watchers.Store(&ws)
	f.watchMu.Unlock()
}

// Unwatch undoes one Watch(w). A Signal that began before it may still
// tell w after it returns.
func (f *FD) Unwatch(w Watcher) {
	f.watchMu.Lock()
	old := f.watching()
	if i := slices.Index(old, w); i >= 0 {
		ws := slices.Delete(slices.Clone(old), i, i+1)
		f.watchers.Store(&ws)
	}
	f.watchMu.Unlock()
}

// watching returns f's watchers: the slice must not be changed.
func (f *FD) watching() []Watcher {
	if ws := f.watchers.Load(); ws != nil {
		return *ws
	}
	return nil
}

// ring tells f's watchers that it was signaled, without a lock or a
// system call: it runs on every completion of the engine. Every Signal
// rings, not only the one that makes the fd readable: a watcher that
// parked while the fd was readable for someone else's operation must
// still hear of its own.
func (f *FD) ring() {
	for _, w := range f.watching() {
		w.Signaled()
	}
}
