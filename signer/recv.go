package signer

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// What a message being received costs is reserved from its client's and
// the server's budgets before gRPC reads it, since gRPC holds what it
// reads (up to MaxRecvMsgSize) before the server sees any of it:
//
//   - the message as it arrives, at most MaxRecvMsgSize bytes;
//   - its decoded requests: their bytes fields are copies, at most the
//     message's size again; and the structs of at most decodeChunk of
//     them at a time, since a batch is decoded and taken in chunks
//     (decoded whole, 1 MiB of empty requests would be half a million
//     structs, about 60 MiB).
//
// Once the message is in, the reservation shrinks to twice its size;
// the requests taken are charged out of it first (and their decoded form
// is what their charge counts, with a fixed overhead charged anew), and
// the rest goes back once the batch is taken.
const (
	decodeChunk = 64
	recvSlack   = decodeChunk * 256 // a chunk's structs and slice
	recvReserve = 2*MaxRecvMsgSize + recvSlack
)

// rawMsg is a message as it came off the wire: the server's codec keeps
// the bytes, for the receiver to decode in chunks.
type rawMsg struct {
	data mem.BufferSlice
}

// free lets go of the bytes.
func (m *rawMsg) free() {
	m.data.Free()
	m.data = nil
}

// flat returns the message in one slice. One that came in more than one
// buffer (a message larger than an HTTP/2 frame) is copied into one and
// its buffers let go at once, so that it is held once, as the
// reservation counts it.
func (m *rawMsg) flat() []byte {
	if len(m.data) == 1 {
		return m.data[0].ReadOnlyData()
	}
	b := m.data.Materialize()
	m.free()
	return b
}

// codec is the server's: the proto codec, except that a rawMsg keeps
// the message's bytes undecoded.
type codec struct{ encoding.CodecV2 }

func newCodec() codec { return codec{encoding.GetCodecV2("proto")} }

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*rawMsg); ok {
		data.Ref()
		m.data = data
		return nil
	}
	return c.CodecV2.Unmarshal(data, v)
}

// errDecode ends a stream whose message is no RequestBatch, as gRPC's
// own decoding would.
var errDecode = status.Error(codes.Internal, "grpc: failed to unmarshal the received message")

// reserve takes n bytes for c from its budget and the server's, waiting
// while they do not fit (woken when bytes are let go), until ctx ends or
// the server stops; it reports whether it took them.
func (b *budget) reserve(ctx context.Context, stop <-chan struct{}, c *client, n int64) bool {
	if b.charge(c, n) == "" {
		return true
	}
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	for {
		freed := *b.freed.Load() // before the try: no wake-up lost
		if b.charge(c, n) == "" {
			return true
		}
		select {
		case <-freed:
		case <-ctx.Done():
			return false
		case <-stop:
			return false
		}
	}
}

// recv reserves for c what the next message may cost, receives it into
// m and shrinks the reservation (*resv) to what it may still cost:
// twice its size (see recvReserve). Otherwise it returns io.EOF or the
// call's error, with nothing reserved.
func (b *budget) recv(ctx context.Context, stop <-chan struct{}, c *client, resv *int64, recvMsg func(any) error, m *rawMsg) error {
	if !b.reserve(ctx, stop, c, recvReserve) {
		if err := ctx.Err(); err != nil {
			return status.FromContextError(err).Err()
		}
		return errDraining
	}
	*resv = recvReserve
	if err := recvMsg(m); err != nil {
		b.unreserve(c, resv)
		return err
	}
	if need := 2*int64(m.data.Len()) + recvSlack; need < *resv {
		b.uncharge(c, *resv-need)
		*resv = need
	}
	return nil
}

// unreserve lets go of what is left of a reservation.
func (b *budget) unreserve(c *client, resv *int64) {
	if *resv > 0 {
		b.uncharge(c, *resv)
		*resv = 0
	}
}

// chargeFrom counts a request of size encoded bytes against c's and the
// server's bounds, and returns "" or which bound it would pass: its
// decoded bytes (size) come out of the reservation *resv, which counted
// them as the message's decoded form, and opOverhead from the budgets
// (all of it from the budgets if *resv holds less than size).
func (b *budget) chargeFrom(c *client, resv *int64, size int64) string {
	if *resv < size {
		return b.charge(c, size+opOverhead)
	}
	if msg := b.charge(c, opOverhead); msg != "" {
		return msg
	}
	*resv -= size
	return ""
}

// takeRaw takes the requests, then the cancels, of the batch in data, in
// chunks of decodeChunk requests, and returns the number of requests, or
// the error that ends the stream: errBatchTooLarge for more than MaxBatch
// requests or cancels (checked before anything is decoded), errDecode
// for a message that is no RequestBatch.
func (st *stream) takeRaw(data []byte, b *pb.RequestBatch, ops *[]*op) (int, error) {
	n, c, err := countBatch(data)
	if err != nil {
		return 0, err
	}
	if n > MaxBatch || c > MaxBatch {
		return n, errBatchTooLarge
	}
	flush := func() {
		*ops = st.take(b, (*ops)[:0])
		st.s.obs.arrived(*ops...)
		st.s.q.push(*ops...)
		clear(*ops)
		clear(b.Requests)
		b.Requests = b.Requests[:0]
	}
	ids := b.Cancel[:0]
	for rest := data; len(rest) > 0; {
		num, typ, tn := protowire.ConsumeTag(rest)
		rest = rest[tn:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, vn := protowire.ConsumeBytes(rest)
			rest = rest[vn:]
			r := new(pb.SignRequest)
			if proto.Unmarshal(v, r) != nil {
				flush()
				return n, errDecode
			}
			if b.Requests = append(b.Requests, r); len(b.Requests) == decodeChunk {
				flush()
			}
			continue
		case num == 2 && typ == protowire.BytesType:
			v, vn := protowire.ConsumeBytes(rest)
			rest = rest[vn:]
			for len(v) > 0 {
				id, k := protowire.ConsumeVarint(v)
				if k < 0 {
					flush()
					return n, errDecode
				}
				v = v[k:]
				ids = append(ids, id)
			}
			continue
		case num == 2 && typ == protowire.VarintType:
			id, k := protowire.ConsumeVarint(rest)
			rest = rest[k:]
			ids = append(ids, id)
			continue
		}
		rest = rest[protowire.ConsumeFieldValue(num, typ, rest):]
	}
	flush()
	st.cancel(ids)
	b.Cancel = ids[:0]
	return n, nil
}

// countBatch counts the requests and cancels of the RequestBatch in
// data, checking its wire format (the requests' own is checked as they
// are decoded).
func countBatch(data []byte) (reqs, cancels int, err error) {
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return 0, 0, errDecode
		}
		data = data[n:]
		m := protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return 0, 0, errDecode
		}
		switch {
		case num == 1 && typ == protowire.BytesType:
			reqs++
		case num == 2 && typ == protowire.VarintType:
			cancels++
		case num == 2 && typ == protowire.BytesType:
			v, _ := protowire.ConsumeBytes(data)
			for _, c := range v {
				if c < 0x80 {
					cancels++
				}
			}
			if len(v) > 0 && v[len(v)-1] >= 0x80 {
				return 0, 0, errDecode
			}
		}
		data = data[m:]
	}
	return reqs, cancels, nil
}
