package async

import (
	"slices"
	"sync"
	"sync/atomic"
)

// WaitCtx is ASYNC_WAIT_CTX: how async-aware code (an engine) tells the
// application that a paused job is ready to be resumed. It holds wait file
// descriptors, each set under a key unique to the code that set it, a
// callback, and an engine status.
//
// A WaitCtx serves one job at a time but may be reused for the next job
// once that one has finished. It is safe for use by many goroutines at once
// (an engine's completion goroutine may read the callback while the
// application sets it). The zero WaitCtx is ready to use, as is one made by
// NewWaitCtx.
type WaitCtx struct {
	mu      sync.Mutex
	entries []fdEntry // oldest first; guarded by mu
	// pending is true while some entry carries an added or deleted mark, so
	// that resuming a job takes mu only when there is a window to close.
	pending atomic.Bool
	freed   atomic.Bool
	status  atomic.Int32
	cb      atomic.Pointer[callback]
}

type fdEntry struct {
	key     any
	fd      int
	data    any
	cleanup CleanupFunc
	added   bool // set since the window opened
	deleted bool // cleared since the window opened; hidden from FD and AllFDs
}

type callback struct {
	fn  CallbackFunc
	arg any
}

// CleanupFunc is called by Free for each wait fd still set, with the
// arguments given to SetWaitFD, so that the engine that set it can close
// the fd and release data.
type CleanupFunc func(w *WaitCtx, key any, fd int, data any)

// CallbackFunc is ASYNC_callback_fn: an engine calls it, from whatever
// goroutine completes the operation, to tell the application that the job
// can be resumed. It must be small and must not block.
type CallbackFunc func(arg any) int

// NewWaitCtx is ASYNC_WAIT_CTX_new: it returns an empty WaitCtx.
func NewWaitCtx() *WaitCtx { return new(WaitCtx) }

// Free is ASYNC_WAIT_CTX_free: it calls the cleanup of every fd still set
// (not of those cleared with ClearFD), once each, newest first, and marks
// the WaitCtx freed. Free of a freed or nil WaitCtx does nothing; every
// other method of a freed WaitCtx returns ErrFreed (or its zero result).
// The cleanups run after the WaitCtx is marked freed, so one that calls
// back into it gets ErrFreed rather than a deadlock.
//
// A cleanup that panics (or calls runtime.Goexit) does not stop the
// others: every cleanup still runs, once, and the WaitCtx is freed all
// the same; then the panic goes on, out of Free, with its own stack.
func (w *WaitCtx) Free() {
	if w == nil {
		return
	}
	w.mu.Lock()
	if w.freed.Load() {
		w.mu.Unlock()
		return
	}
	w.freed.Store(true)
	entries := w.entries
	w.entries = nil
	w.pending.Store(false)
	w.cb.Store(nil)
	w.mu.Unlock()
	w.cleanUp(entries)
}

// cleanUp calls the cleanups of entries, newest first. If one panics, the
// deferred call runs the older ones while the panic unwinds, so that each
// is called once whatever the others do, and the panic is not hidden.
func (w *WaitCtx) cleanUp(entries []fdEntry) {
	i := len(entries) - 1
	defer func() {
		if i >= 0 { // entries[i]'s cleanup did not return
			w.cleanUp(entries[:i])
		}
	}()
	for ; i >= 0; i-- {
		if e := &entries[i]; !e.deleted && e.cleanup != nil {
			e.cleanup(w, e.key, e.fd, e.data)
		}
	}
}

// SetWaitFD is ASYNC_WAIT_CTX_set_wait_fd: it associates fd, and data for
// the caller's own use, with key. key is any comparable value unique to the
// async-aware code (an engine's pointer, say). cleanup, which may be nil,
// is called by Free if the fd is still set then; it is never called for an
// fd removed by ClearFD.
//
// Errors: ErrInvalidKey for a nil or uncomparable key (or NaN), ErrBadFD for a
// negative fd, ErrKeyExists when an fd is already set under key, ErrFreed
// after Free.
func (w *WaitCtx) SetWaitFD(key any, fd int, data any, cleanup CleanupFunc) error {
	if w == nil {
		return ErrNilWaitCtx
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.freed.Load():
		return ErrFreed
	case !validKey(key):
		return ErrInvalidKey
	case fd < 0:
		return ErrBadFD
	}
	if w.live(key) >= 0 {
		return ErrKeyExists
	}
	w.entries = append(w.entries, fdEntry{key: key, fd: fd, data: data, cleanup: cleanup, added: true})
	w.pending.Store(true)
	return nil
}

// FD is ASYNC_WAIT_CTX_get_fd: it returns the fd and data set under key.
// ok is false when none is set, the key is invalid, or w was freed.
func (w *WaitCtx) FD(key any) (fd int, data any, ok bool) {
	if w == nil || !validKey(key) {
		return 0, nil, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	i := w.live(key)
	if i < 0 {
		return 0, nil, false
	}
	return w.entries[i].fd, w.entries[i].data, true
}

// AllFDs is ASYNC_WAIT_CTX_get_all_fds: it returns the fds now set, newest
// first, as OpenSSL lists them; nil when there are none or w was freed.
func (w *WaitCtx) AllFDs() []int { return w.AppendAllFDs(nil) }

// AppendAllFDs appends the fds AllFDs would return to dst and returns the
// extended slice; an event loop reuses dst to avoid allocating.
func (w *WaitCtx) AppendAllFDs(dst []int) []int {
	if w == nil {
		return dst
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.entries) - 1; i >= 0; i-- {
		if !w.entries[i].deleted {
			dst = append(dst, w.entries[i].fd)
		}
	}
	return dst
}

// ChangedFDs is ASYNC_WAIT_CTX_get_changed_fds: it returns the fds added
// and deleted since a paused job of this WaitCtx was last resumed (or since
// the WaitCtx was made): after StartJob returns Pause or Finish it tells
// what that run changed, which is what an event loop applies to its poll
// set. Starting or finishing a job does not reset it. An fd added and
// cleared in the same window is in neither list. Reading it changes
// nothing. Both lists are newest first, and nil when empty.
func (w *WaitCtx) ChangedFDs() (added, deleted []int) { return w.AppendChangedFDs(nil, nil) }

// AppendChangedFDs appends the fds ChangedFDs would return to added and
// deleted and returns the extended slices; an event loop reuses them to
// avoid allocating. It takes no lock when nothing changed.
func (w *WaitCtx) AppendChangedFDs(added, deleted []int) ([]int, []int) {
	if w == nil || !w.pending.Load() {
		return added, deleted
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.entries) - 1; i >= 0; i-- {
		switch e := &w.entries[i]; {
		case e.deleted:
			deleted = append(deleted, e.fd)
		case e.added:
			added = append(added, e.fd)
		}
	}
	return added, deleted
}

// ClearFD is ASYNC_WAIT_CTX_clear_fd: it removes the fd set under key
// without calling its cleanup; the caller keeps the fd. Errors:
// ErrInvalidKey, ErrNoFD when no fd is set under key, ErrFreed after Free.
func (w *WaitCtx) ClearFD(key any) error {
	if w == nil {
		return ErrNilWaitCtx
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.freed.Load():
		return ErrFreed
	case !validKey(key):
		return ErrInvalidKey
	}
	i := w.live(key)
	if i < 0 {
		return ErrNoFD
	}
	if w.entries[i].added {
		// Added and cleared in one window: the application never saw it.
		w.entries = slices.Delete(w.entries, i, i+1)
		return nil
	}
	w.entries[i].deleted = true
	w.entries[i].cleanup = nil
	w.pending.Store(true)
	return nil
}

// SetCallback is ASYNC_WAIT_CTX_set_callback: an engine that supports
// callbacks calls fn(arg) when it completes an operation, instead of
// making a wait fd readable. fn must be small and must not block. A nil fn
// removes the callback. Errors: ErrFreed after Free.
func (w *WaitCtx) SetCallback(fn CallbackFunc, arg any) error {
	if w == nil {
		return ErrNilWaitCtx
	}
	var c *callback
	if fn != nil {
		c = &callback{fn: fn, arg: arg}
	}
	w.mu.Lock() // orders the store against Free's
	defer w.mu.Unlock()
	if w.freed.Load() {
		return ErrFreed
	}
	w.cb.Store(c)
	return nil
}

// Callback is ASYNC_WAIT_CTX_get_callback; ok is false when none is set.
func (w *WaitCtx) Callback() (fn CallbackFunc, arg any, ok bool) {
	if w == nil {
		return nil, nil, false
	}
	c := w.cb.Load()
	if c == nil {
		return nil, nil, false
	}
	return c.fn, c.arg, true
}

// SetStatus is ASYNC_WAIT_CTX_set_status: an engine records how its
// request went. An engine that will call the callback sets StatusOK before
// pausing. Errors: ErrBadStatus for a value that is not an EngineStatus
// constant, ErrFreed after Free.
func (w *WaitCtx) SetStatus(s EngineStatus) error {
	if w == nil {
		return ErrNilWaitCtx
	}
	if w.freed.Load() {
		return ErrFreed
	}
	if !s.valid() {
		return ErrBadStatus
	}
	w.status.Store(int32(s))
	return nil
}

// Status is ASYNC_WAIT_CTX_get_status: the engine status last set, or
// StatusUnsupported. Unless it is StatusOK the application should not
// expect the callback to be called.
func (w *WaitCtx) Status() EngineStatus {
	if w == nil || w.freed.Load() {
		return StatusUnsupported
	}
	return EngineStatus(w.status.Load())
}

// resetWindow closes the ChangedFDs window; StartJob calls it when it
// resumes a paused job of this WaitCtx. It is cheap when nothing changed.
func (w *WaitCtx) resetWindow() {
	if w.pending.Load() {
		w.closeWindow()
	}
}

func (w *WaitCtx) closeWindow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	kept := w.entries[:0]
	for _, e := range w.entries {
		if !e.deleted {
			e.added = false
			kept = append(kept, e)
		}
	}
	clear(w.entries[len(kept):])
	w.entries = kept
	w.pending.Store(false)
}

// live returns the index of the entry set under key and not deleted, or -1.
// The caller holds mu.
func (w *WaitCtx) live(key any) int {
	for i := range w.entries {
		if !w.entries[i].deleted && w.entries[i].key == key {
			return i
		}
	}
	return -1
}

// validKey reports whether key can be used as a wait fd key: non-nil, and
// equal to itself without a run-time panic. That rules out funcs, maps and
// slices, structs and arrays holding them in interface fields, and NaN,
// which could be set but never found. It allocates nothing.
func validKey(key any) (ok bool) {
	if key == nil {
		return false
	}
	defer func() {
		if recover() != nil {
			ok = false // "comparing uncomparable type"
		}
	}()
	return sameKey(key, key)
}

func sameKey(a, b any) bool { return a == b }
