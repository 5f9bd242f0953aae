//go:build linux

package loop

import (
	"slices"

	"github.com/seed-e1024768/async/internal/wake"
)

// fdEntry is the loop's record of one wait fd.
//
// An fd is in the epoll set ("armed") only while some slot might wait on
// it: it is added when a slot that has it starts waiting, and removed when
// it is reported readable while none of its slots waits (a completion
// nobody drained, say), so that level-triggered epoll does not report it
// again and again while its job is not paused, or its slot is idle. In the
// usual case (an engine's stable eventfd, drained by the resumed job) it is
// added once and stays.
//
// The wait fds of this module's engines are never armed: the loop watches
// them instead (see wake.Watch), so that the goroutine that signals one
// readies the loop at once, as a callback does, where the netpoller would
// need a P with nothing to do, and a kernel wake-up, to notice; and it
// watches them for its slots' WaitCtxs (wake.FD.WatchFor), so that their
// operations queue their slot, as a callback does, and neither write nor
// read the fd. (Watching the fd itself, wake.FD.Watch, covers operations
// that signaled before the loop saw the fd.) The loop holds a reference to
// such an fd (bell) while some slot has it, so its number cannot be
// reused meanwhile.
type fdEntry struct {
	armed bool
	bell  *wake.FD // the module's wait fd of this number, watched; nil for any other fd
	slots []int32  // slots whose WaitCtx lists the fd: one, or all of an engine's that shares one
}

// syncFDs applies the fds the slot's job added and deleted in the run that
// just ended (by Pause when finished is false, else by Finish or a failure)
// to the slot's registrations.
//
// ChangedFDs covers the time since the job was last resumed. Starting a job
// does not reset it, so after a Finish that changed something, the next
// job's first report repeats those changes, and an fd the new job clears
// that the old one added vanishes from it altogether (ClearFD drops an fd
// added in the same window); such a slot is marked resync, and that next
// report is applied from AllFDs instead. Deleted fds are always dropped
// before what is live is (re)registered, because the fd number may be that
// of a new file the engine opened after closing the old one.
//
// When nothing changed, this takes no lock and makes no system call.
func (l *loop) syncFDs(s *slot, finished bool) {
	l.added, l.del = s.wctx.AppendChangedFDs(l.added[:0], l.del[:0])
	changed := len(l.added) > 0 || len(l.del) > 0
	switch {
	case s.resync:
		for len(s.fds) > 0 {
			l.unregister(s, s.fds[len(s.fds)-1])
		}
		l.registerAll(s)
	case len(l.del) > 0:
		for _, fd := range l.del {
			l.unregister(s, fd)
		}
		l.registerAll(s)
	default:
		for _, fd := range l.added {
			l.register(s, fd)
		}
	}
	s.resync = finished && changed
}

// registerAll registers every fd the slot's WaitCtx lists now.
func (l *loop) registerAll(s *slot) {
	l.all = s.wctx.AppendAllFDs(l.all[:0])
	for _, fd := range l.all {
		l.register(s, fd)
	}
}

// register records that the slot waits on fd; it does nothing if it does.
func (l *loop) register(s *slot, fd int) {
	if fd < 0 {
		return
	}
	if fd >= len(l.fdTab) {
		l.fdTab = append(l.fdTab, make([]fdEntry, max(fd+1, 2*len(l.fdTab), 64)-len(l.fdTab))...)
	}
	e := &l.fdTab[fd]
	if slices.Contains(e.slots, s.idx) {
		return
	}
	if len(e.slots) == 0 {
		if e.bell = wake.Lookup(fd); e.bell != nil {
			e.bell.Watch(l.n)
			l.bells = append(l.bells, fd)
		}
	}
	if e.bell != nil {
		e.bell.WatchFor(s.wctx, s.ref) // told as by the slot's callback, the fd unwritten
	}
	e.slots = append(e.slots, s.idx)
	s.fds = append(s.fds, fd)
}

// unregister undoes register; it takes the fd out of the epoll set when no
// slot has it any more.
func (l *loop) unregister(s *slot, fd int) {
	i := slices.Index(s.fds, fd)
	if i < 0 {
		return
	}
	s.fds = slices.Delete(s.fds, i, i+1)
	e := &l.fdTab[fd]
	if j := slices.Index(e.slots, s.idx); j >= 0 {
		e.slots = slices.Delete(e.slots, j, j+1)
		if e.bell != nil {
			e.bell.UnwatchFor(s.wctx)
		}
	}
	if len(e.slots) == 0 {
		l.unwatch(fd)
		l.disarm(fd)
	}
}

// unwatch stops watching fd, if the loop does, for every slot.
func (l *loop) unwatch(fd int) {
	e := &l.fdTab[fd]
	if e.bell == nil {
		return
	}
	for _, i := range e.slots {
		e.bell.UnwatchFor(l.slots[i].wctx)
	}
	e.bell.Unwatch(l.n)
	e.bell.Release()
	e.bell = nil
	if i := slices.Index(l.bells, fd); i >= 0 {
		l.bells = slices.Delete(l.bells, i, i+1)
	}
}

// ringBells makes ready the waiting slots of every watched fd that is
// readable, and reports whether it made any.
func (l *loop) ringBells() bool {
	woke := false
	for _, fd := range l.bells {
		e := &l.fdTab[fd]
		if !e.bell.Ready() {
			continue
		}
		for _, i := range e.slots {
			if s := &l.slots[i]; s.state == slotWaiting {
				l.wake(s)
				woke = true
			}
		}
	}
	return woke
}

// arm puts the slot's fds in the epoll set, reporting false if one cannot
// be (a file epoll does not support, or one already closed): the slot is
// then polled instead.
func (l *loop) arm(s *slot) bool {
	for _, fd := range s.fds {
		e := &l.fdTab[fd]
		if e.armed || e.bell != nil {
			continue
		}
		if l.poller.add(fd) != nil {
			return false
		}
		e.armed = true
		l.armed++
	}
	return true
}

// disarm takes fd out of the epoll set.
func (l *loop) disarm(fd int) {
	if e := &l.fdTab[fd]; e.armed {
		l.poller.del(fd)
		e.armed = false
		l.armed--
	}
}

// fdReady handles an fd epoll reported readable: the slots waiting on it
// become ready; if none was, the fd leaves the epoll set until one waits.
func (l *loop) fdReady(fd int) {
	if fd < 0 || fd >= len(l.fdTab) {
		return
	}
	e := &l.fdTab[fd]
	woke := false
	for _, i := range e.slots {
		if s := &l.slots[i]; s.state == slotWaiting {
			l.wake(s)
			woke = true
		}
	}
	if !woke {
		l.disarm(fd)
	}
}
