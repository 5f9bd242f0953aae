package remote

import (
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/seed-e1024768/async/internal/signpb"
)

// limits are the bounds a signer holds a Sign stream to (signpb.Limits).
type limits struct {
	inFlight int   // requests sent and not yet answered
	bytes    int64 // their encoded sizes, summed
	batch    int   // requests in one RequestBatch
	// batchBytes bounds one RequestBatch's encoded size: a larger one
	// ends the stream (the signer's largest message).
	batchBytes int64
}

// oldLimits are the bounds of a signer that predates Limits (and never
// says them), which the engine assumes until a signer says its own: 4,096
// requests or 16 MiB of payload in flight per stream, 16,384 requests and
// 1 MiB a batch (the old signer took messages of 8 MiB, but the smaller
// bound costs nothing: a batch that reaches it is followed by the next at
// once). A signer that holds a stream to less answers CODE_OVERLOADED
// beyond its bounds, and says them in its stream's first batch.
var oldLimits = limits{inFlight: 4096, bytes: 16 << 20, batch: 4 * 4096, batchBytes: 1 << 20}

// fromWire returns the limits l says, each zero (unset) one taken from
// oldLimits.
func fromWire(l *signpb.Limits) limits {
	out := oldLimits
	if n := l.GetMaxInFlight(); n > 0 {
		out.inFlight = int(min(n, 1<<30))
	}
	if n := l.GetMaxInFlightBytes(); n > 0 {
		out.bytes = int64(min(n, 1<<62))
	}
	if n := l.GetMaxBatch(); n > 0 {
		out.batch = int(min(n, 1<<30))
	}
	if n := l.GetMaxBatchBytes(); n > 0 {
		out.batchBytes = int64(n)
	}
	return out
}

// wireSize returns m's encoded size, as proto.Size would, without its
// reflection: the size a signer counts against max_in_flight_bytes.
func wireSize(m *signpb.SignRequest) int64 {
	n := 0
	if m.Id != 0 {
		n += 1 + protowire.SizeVarint(m.Id)
	}
	if len(m.KeyId) > 0 {
		n += 1 + protowire.SizeBytes(len(m.KeyId))
	}
	if m.Algorithm != 0 {
		n += 1 + protowire.SizeVarint(uint64(m.Algorithm))
	}
	if len(m.Payload) > 0 {
		n += 1 + protowire.SizeBytes(len(m.Payload))
	}
	if m.DeadlineUnixNano != 0 {
		n += 1 + protowire.SizeVarint(uint64(m.DeadlineUnixNano))
	}
	if m.TimeoutNanos != 0 {
		n += 1 + protowire.SizeVarint(uint64(m.TimeoutNanos))
	}
	return int64(n)
}

// The wait before a stream sends again after a refusal that left it
// nothing in flight (the signer's bound for this client, shared by every
// stream and connection, was reached elsewhere): it doubles from
// minHold to maxHold while refusals go on, and no answer wakes the stream
// meanwhile.
const (
	minHold = time.Millisecond
	maxHold = 50 * time.Millisecond
)

// isOverload reports whether res refuses its request for want of room:
// CODE_OVERLOADED, or, from a signer that predates it (it never said its
// Limits on this stream), CODE_UNAVAILABLE other than for a shutdown.
func (st *stream) isOverload(res *signpb.SignResult) bool {
	switch res.GetCode() {
	case signpb.Code_CODE_OVERLOADED:
		return true
	case signpb.Code_CODE_UNAVAILABLE:
		return !st.told.Load() && !strings.Contains(res.GetError(), "shutting down")
	}
	return false
}

// learn adjusts the stream's window to the answer res, whose request
// has just left the stream's in-flight count. A refusal shrinks the
// window to what is still in flight, so that no request is sent again
// before an earlier one is answered; with nothing in flight, it holds
// the stream back a while instead. An answer that is no refusal grows
// the window again by one, up to the signer's bound. st.mu held.
func (st *stream) learn(res *signpb.SignResult, now int64) {
	if !st.isOverload(res) {
		if st.window < st.lim.inFlight {
			st.window++
		}
		st.hold = 0
		return
	}
	st.window = max(1, st.inFlight)
	if st.inFlight == 0 {
		st.hold = min(max(2*st.hold, int64(minHold)), int64(maxHold))
		st.holdUntil = now + st.hold
	}
}

// setLimits adopts the limits a signer said for the stream.
func (st *stream) setLimits(l *signpb.Limits) {
	st.mu.Lock()
	st.lim = fromWire(l)
	st.window = st.lim.inFlight
	st.told.Store(true)
	more := len(st.queue) > 0
	st.mu.Unlock()
	if more {
		st.wakeSender()
	}
}

// resetLimits forgets what the stream learned of its signer, for a new
// gRPC stream. st.mu held.
func (st *stream) resetLimits() {
	st.lim, st.window = oldLimits, oldLimits.inFlight
	st.told.Store(false)
	st.inFlight, st.inBytes = 0, 0
	clear(st.gone)
	st.hold, st.holdUntil = 0, 0
}

// atBound reports whether a request of about size bytes would wait for
// room on the stream now. st.mu held.
func (st *stream) atBound(size, now int64) bool {
	return now < st.holdUntil || st.inFlight >= st.window ||
		(st.inFlight > 0 && st.inBytes+size > st.lim.bytes)
}
