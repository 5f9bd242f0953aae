//go:build !linux

package wake

import "github.com/seed-e1024768/async"

// FD stands for a wait fd where there is none: no value of it is ever
// made, so a Wake's FD is always nil here.
type FD struct{}

// Available reports whether this OS has wait fds: it has not.
const Available = false

// waitFD is never called here (Wake.Set asks only where Available), but
// says why if it were.
func waitFD(*async.WaitCtx, *Policy) (*FD, error) { return nil, ErrNoWaitFD }

func (*FD) unref()                        {}
func (*FD) signalFor(*async.WaitCtx) bool { return false }
func (*FD) drainFor(bool)                 {}
