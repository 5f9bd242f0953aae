//go:build linux

package loop

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// poller is the loop's epoll set and its way of waiting on it.
//
// It never blocks its thread in epoll_wait: poll asks with timeout 0, and
// park waits for the epoll fd itself to become readable (which it is while
// any fd in its set is) through Go's netpoller, so that the goroutine parks
// instead. A thread blocked in epoll_wait keeps its P, and on a small
// machine that starves the engine's workers, whose completions are what the
// loop waits for.
//
// Its zero value is closed; close is safe on it. Nothing it does on the
// loop's paths allocates: the events buffer, epoll_ctl's argument and the
// netpoller's readiness test are made once, by open.
type poller struct {
	epfd     int
	f        *os.File        // epfd, registered with the netpoller; nil until open succeeds
	rc       syscall.RawConn // f's
	deadline bool            // a read deadline is set on f
	readyFn  func(uintptr) bool
	nReady   int   // what readyFn found
	errReady error // what readyFn found
	events   []unix.EpollEvent
	ev       unix.EpollEvent // epoll_ctl's argument, kept here so it does not escape per call
}

// open makes the epoll set, taking up to maxEvents events per wait. On
// error it leaves nothing open.
func (p *poller) open(maxEvents int) error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(epfd), "epoll") // non-blocking: registered with the netpoller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return err
	}
	p.epfd, p.f, p.rc = epfd, f, rc
	p.readyFn = p.pollReady
	p.events = make([]unix.EpollEvent, maxEvents)
	return nil
}

// close closes the epoll set, which takes every fd out of it.
func (p *poller) close() {
	if p.f != nil {
		p.f.Close()
	}
	*p = poller{}
}

// add puts fd in the set, to report when it is readable; an fd already in
// it is no error. The error is the bare errno, so that a failure (a file
// epoll does not support, one already closed) does not allocate.
func (p *poller) add(fd int) error {
	p.ev = unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &p.ev); err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}

// del takes fd out of the set. Errors are ignored: the fd may have been
// closed already, which took it out.
func (p *poller) del(fd int) {
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, &p.ev)
}

// poll returns the events ready now, without waiting. The slice is p's
// buffer, valid until the next poll or park.
func (p *poller) poll() ([]unix.EpollEvent, error) {
	for {
		n, err := unix.EpollWait(p.epfd, p.events, 0)
		switch err {
		case nil:
			return p.events[:n], nil
		case unix.EINTR:
			continue
		}
		return nil, os.NewSyscallError("epoll_wait", err)
	}
}

// park parks the calling goroutine in the netpoller until events are ready
// or timeout milliseconds (-1: no limit) have passed, and returns them
// (none on timeout), as poll does.
func (p *poller) park(timeout int) ([]unix.EpollEvent, error) {
	if err := p.setDeadline(timeout); err != nil {
		return nil, err
	}
	p.nReady, p.errReady = 0, nil
	rerr := p.rc.Read(p.readyFn)
	n, err := p.nReady, p.errReady
	if rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	return p.events[:n], nil
}

// pollReady is the netpoller's test of readiness: it takes the events
// ready now, if any.
func (p *poller) pollReady(uintptr) bool {
	evs, err := p.poll()
	p.nReady, p.errReady = len(evs), err
	return p.nReady > 0 || p.errReady != nil
}

// setDeadline bounds the next park to timeout milliseconds (-1: none).
func (p *poller) setDeadline(timeout int) error {
	if timeout < 0 {
		if !p.deadline {
			return nil
		}
		p.deadline = false
		return p.f.SetReadDeadline(time.Time{})
	}
	p.deadline = true
	return p.f.SetReadDeadline(time.Now().Add(time.Duration(timeout) * time.Millisecond))
}
