//go:build !linux

package remote

import (
	"errors"
	"sync/atomic"

	"github.com/seed-e1024768/async"
)

// waitFD stands in for the eventfd of Linux: elsewhere wait fds are not
// offered, and an operation that would need one fails.
type waitFD struct{ refs atomic.Int32 }

var errNoWaitFD = errors.New("remote: wait fds need Linux (use NotifyPoll or a callback)")

func (e *Engine) waitFD(*async.WaitCtx) (*waitFD, error) { return nil, errNoWaitFD }
func (f *waitFD) unref()                                 {}
func (f *waitFD) signal()                                {}
func (f *waitFD) drain()                                 {}
