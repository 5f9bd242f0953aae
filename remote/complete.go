package remote

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed-e1024768/async/internal/signpb"
)

// Completing: what the engine does with a request it holds once a signer
// answered it, failed holding it, or refused it for want of room.

// maxSends bounds how many times one request is sent to signers that then
// failed (or shut down) before the engine gives up on it with
// ErrUnavailable. Refusals for want of room do not count: they are
// retried until the request's deadline.
const maxSends = 8

// finish ends the engine's hold on r: it frees r's slot and completes r
// with sig or err (or releases it, if its caller gave it up). A WaitCtx
// callback is called here, on the calling goroutine, as package engine
// says; if it calls runtime.Goexit, finish does not return, and the
// goroutine's own deferred calls (see stream.answerAll and
// Engine.sweeper) finish its work and replace it if need be.
func (e *Engine) finish(r *request, sig []byte, err error) {
	e.freeSlot()
	r.sig, r.err = sig, err
	e.k.Complete(r)
}

// resend sends r, which the engine holds, to another signer than from
// after from failed with cause; or completes it if it was given up, the
// engine is closed, or its signers failed too often.
func (e *Engine) resend(r *request, from *signerConn, cause error) {
	r.failed++
	switch {
	case r.abandoned():
		e.finish(r, nil, nil)
		return
	case e.closed.Load():
		e.finish(r, nil, ErrClosed)
		return
	case r.failed >= maxSends:
		e.finish(r, nil, fmt.Errorf("remote: sent %d times, to signers that failed: %w: %w", r.failed, ErrUnavailable, cause))
		return
	}
	if r.sends > 0 {
		e.stats.retries.Add(1)
	}
	if err := e.place(r, from); err != nil {
		e.finish(r, nil, err)
	}
}

// retry queues r, which a signer refused for want of room, again: on the
// least loaded stream, which sends it once there is room (see
// stream.learn), within its deadline.
func (e *Engine) retry(r *request) {
	r.noRoom.Store(true)
	switch {
	case r.abandoned():
		e.finish(r, nil, nil)
		return
	case e.closed.Load():
		e.finish(r, nil, ErrClosed)
		return
	}
	if err := e.place(r, nil); err != nil {
		e.finish(r, nil, err)
	}
}

// answer completes r, which the engine holds, with the signer's result
// on stream st.
func (e *Engine) answer(st *stream, r *request, res *signpb.SignResult) {
	from := st.srv
	if r.abandoned() {
		e.stats.discarded.Add(1)
		e.finish(r, nil, nil)
		return
	}
	if st.isOverload(res) {
		// Back-pressure, not failure: send it again when there is room.
		e.stats.overloaded.Add(1)
		e.retry(r)
		return
	}
	e.stats.answered.Add(1)
	e.stats.noteAnswer(res.GetCode())
	if res.GetCode() == signpb.Code_CODE_UNAVAILABLE {
		// The signer is shutting down: another will do.
		e.resend(r, from, fmt.Errorf("%s: %s", from.addr, res.GetError()))
		return
	}
	e.finish(r, res.GetSignature(), codeError(from.addr, res))
}

// codeError returns the error that res reports, nil for CODE_OK.
func codeError(addr string, res *signpb.SignResult) error {
	var err error
	switch res.GetCode() {
	case signpb.Code_CODE_OK:
		return nil
	case signpb.Code_CODE_UNKNOWN_KEY:
		err = ErrUnknownKey
	case signpb.Code_CODE_BAD_REQUEST:
		err = ErrBadInput
	case signpb.Code_CODE_DEADLINE_EXCEEDED:
		err = context.DeadlineExceeded
	case signpb.Code_CODE_CANCELED:
		err = context.Canceled
	case signpb.Code_CODE_UNAVAILABLE:
		err = ErrUnavailable
	case signpb.Code_CODE_OVERLOADED:
		err = ErrOverloaded
	case signpb.Code_CODE_PERMISSION_DENIED:
		err = ErrDenied
	default:
		err = ErrSigner
	}
	return &SignerError{Addr: addr, Code: res.GetCode().String(), Msg: res.GetError(), err: err}
}

// isRequestError reports whether err is about the request itself, which
// another signer would refuse too (or, denied, must).
func isRequestError(err error) bool {
	return errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrBadInput) || errors.Is(err, ErrDenied)
}

// SignerError is a signer's refusal to sign a request. It wraps the
// package's error for its code: ErrUnknownKey, ErrBadInput, ErrDenied,
// ErrSigner, context.DeadlineExceeded or context.Canceled.
type SignerError struct {
	Addr string // the signer's address
	Code string // the wire code, such as "CODE_UNKNOWN_KEY"
	Msg  string // the signer's explanation
	err  error
}

func (e *SignerError) Error() string {
	return fmt.Sprintf("remote: signer %s: %s: %v", e.Addr, e.Msg, e.err)
}

func (e *SignerError) Unwrap() error { return e.err }
