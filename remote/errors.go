package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-e1024768/async/engine"
)

// Errors reported by the engine. Test for them with errors.Is: the errors
// returned wrap them with more detail (and, where there is one, the cause).
var (
	// ErrClosed: the engine was closed. Operations started after Close
	// return it, and so do those still in flight when Close was called.
	ErrClosed = errors.New("remote: engine closed")
	// ErrBadConfig: New was given no address, an empty address, no TLS
	// config, a negative size or timeout, or an unknown Notify; or a
	// target whose scheme no resolver has, or whose resolver refused it.
	ErrBadConfig = errors.New("remote: bad config")
	// ErrBadInput: an operation was given a malformed key ID, an unknown
	// algorithm, a digest of the wrong length or an oversized message; or
	// the signer refused the request as malformed (CODE_BAD_REQUEST).
	ErrBadInput = errors.New("remote: bad input")
	// ErrUnknownKey: the signer holds no key with that ID
	// (CODE_UNKNOWN_KEY).
	ErrUnknownKey = errors.New("remote: unknown key")
	// ErrUnsupported: a Signer was asked for a hash or padding the signer
	// does not offer for its key (see Signer.SignContext for those it
	// does), or Engine.Signer for a key of a type it does not know.
	ErrUnsupported = errors.New("remote: unsupported signature options")
	// ErrUnavailable: no signer could be reached (or none answered) before
	// the operation's deadline. The error wraps the last cause seen, such
	// as the connection's error, and context.DeadlineExceeded.
	ErrUnavailable = errors.New("remote: no signer available")
	// ErrRefused: the TLS handshake failed because a certificate was not
	// accepted: the signer rejected this client's certificate, or this
	// client rejected the signer's. A refusal by every signer fails an
	// operation at once rather than at its deadline.
	ErrRefused = errors.New("remote: certificate not accepted")
	// ErrDenied: the signer's policy does not let this client (the
	// identity of its certificate) use the key
	// (CODE_PERMISSION_DENIED). It is returned at once and the request
	// is never sent to another signer: a fleet shares its policy, and a
	// client must not shop for a signer that lets it. PublicKey reports
	// a key the client may not use as ErrUnknownKey, as the signer does.
	ErrDenied = errors.New("remote: permission denied")
	// ErrSigner: the signer failed to sign (CODE_INTERNAL).
	ErrSigner = errors.New("remote: signer failed")
	// ErrOverloaded: the signers were up but had no room for the request
	// before its deadline: they answered CODE_OVERLOADED (a bound of the
	// stream or of this client was reached), or the engine held it back
	// to keep within the bounds they set. The error wraps
	// context.DeadlineExceeded. Overload alone never fails a request
	// before its deadline: the engine waits, or moves the request, and
	// sends it again.
	ErrOverloaded = errors.New("remote: signer overloaded")
	// ErrBadSignature: with Config.VerifySignatures, a signature the
	// signer sent does not verify with the key's public key. It never
	// reaches the caller as a success.
	ErrBadSignature = errors.New("remote: signature does not verify")
)

// refusal returns an error wrapping ErrRefused if err says a TLS handshake
// failed over a certificate, else nil.
//
// With TLS 1.3 the client finishes its side of the handshake before the
// server has checked the client's certificate, so a rejection arrives as a
// TLS alert on the first read ("remote error: tls: bad certificate", or
// "unknown certificate authority"); gRPC then reports the connection
// failed with that text. A signer certificate this client does not trust
// fails the handshake here ("tls: failed to verify certificate").
func refusal(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if s, ok := status.FromError(err); ok {
		msg = s.Message()
	}
	switch {
	case strings.Contains(msg, "remote error: tls:"):
		return fmt.Errorf("%w: the signer did not accept this client's certificate (%s)", ErrRefused, tlsPart(msg, "remote error: tls:"))
	case strings.Contains(msg, "tls: failed to verify certificate"),
		strings.Contains(msg, "x509:"):
		return fmt.Errorf("%w: this client did not accept the signer's certificate (%s)", ErrRefused, tlsPart(msg, "tls:"))
	}
	return nil
}

// tlsPart returns msg from the first occurrence of marker on, up to a
// closing quote, so that the error names the alert without gRPC's framing.
func tlsPart(msg, marker string) string {
	i := strings.Index(msg, marker)
	if i < 0 {
		return msg
	}
	msg = msg[i:]
	if j := strings.LastIndexByte(msg, '"'); j >= 0 {
		msg = msg[:j] // gRPC's closing quote
	}
	return strings.ReplaceAll(msg, `\"`, `"`)
}

// unaryError maps the error of a unary call to the package's errors.
func unaryError(op string, err error) error {
	if r := refusal(err); r != nil {
		return fmt.Errorf("remote: %s: %w", op, r)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("remote: %s: %w", op, err)
	}
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("remote: %s: %w: %v", op, ErrUnknownKey, status.Convert(err).Message())
	case codes.InvalidArgument:
		return fmt.Errorf("remote: %s: %w: %v", op, ErrBadInput, status.Convert(err).Message())
	case codes.Canceled:
		return fmt.Errorf("remote: %s: %w", op, context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("remote: %s: %w", op, context.DeadlineExceeded)
	}
	return fmt.Errorf("remote: %s: %w: %w", op, ErrUnavailable, err)
}

// PanicError reports a WaitCtx callback that panicked or called
// runtime.Goexit on one of the engine's goroutines (its Value is then
// ErrGoexit). It is package engine's, the same for every engine: the
// operation the callback was called for returns it or, when that had
// returned already (the callback resumed its job itself, say), Close does.
type PanicError = engine.PanicError

// ErrGoexit is the Value of a *PanicError for a callback that called
// runtime.Goexit: package engine's.
var ErrGoexit = engine.ErrGoexit
