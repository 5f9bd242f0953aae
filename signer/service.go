package signer

import (
	"context"
	"errors"
	"io"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// service is the gRPC face of a Server (apart, so that Server.Stats can
// be the plain method and service.Stats the RPC).
type service struct {
	pb.UnimplementedSignerServer
	s *Server
}

// SignOne signs one request, as one request on a stream would be; its
// ID is only copied to the result. It counts against its client's and
// the server's bounds in bytes, and takes its client's share, as a
// stream's requests do. A call canceled while its request is queued
// returns the context's error as a gRPC status.
//
// The server serves SignOne by signOneStream, which pays for the request
// before gRPC reads it; this is the same call for a request already read.
func (v service) SignOne(ctx context.Context, req *pb.SignRequest) (*pb.SignResult, error) {
	id, _ := identityFromContext(ctx)
	cl := v.s.budget.join(id)
	defer v.s.budget.leave(cl)
	var resv int64
	return v.s.signOne(ctx, cl, req, &resv)
}

// signOne signs req for cl: its decoded bytes come out of *resv, if that
// holds them, and whatever *resv holds then is let go.
func (s *Server) signOne(ctx context.Context, cl *client, req *pb.SignRequest, resv *int64) (*pb.SignResult, error) {
	s.counters.received.Add(1)
	if s.isDraining() {
		s.budget.unreserve(cl, resv)
		s.count(pb.Code_CODE_UNAVAILABLE, s.keyTypeOf(req))
		return &pb.SignResult{Id: req.GetId(), Code: pb.Code_CODE_UNAVAILABLE, Error: errShuttingDown}, nil
	}
	var arrived time.Duration
	if req.GetTimeoutNanos() != 0 || req.GetDeadlineUnixNano() != 0 {
		arrived = time.Since(s.base)
	}
	ring := s.ring.Load()
	c, denied := admitKey(ring, cl.keysFor(ring), req)
	if denied != nil {
		s.budget.unreserve(cl, resv)
		s.noteDenied(cl.id, denied.name)
		s.count(pb.Code_CODE_PERMISSION_DENIED, s.keyTypeOf(req))
		return &pb.SignResult{Id: req.GetId(), Code: pb.Code_CODE_PERMISSION_DENIED, Error: errDenied}, nil
	}
	size := int64(proto.Size(req))
	msg := s.budget.chargeFrom(cl, resv, size)
	s.budget.unreserve(cl, resv)
	if msg != "" {
		s.count(pb.Code_CODE_OVERLOADED, s.keyTypeOf(req))
		return &pb.SignResult{Id: req.GetId(), Code: pb.Code_CODE_OVERLOADED, Error: msg}, nil
	}
	o := newOp(req, nil, 2)
	o.cl, o.b, o.charge = cl, s.budget, size+opOverhead
	o.cost, o.ring = c, ring
	if arrived != 0 {
		o.deadline = deadlineOf(req, arrived)
	}
	if o.done == nil {
		o.done = make(chan struct{}, 1)
	}
	s.obs.arrived(o)
	s.q.push(o)
	select {
	case <-o.done:
	case <-ctx.Done():
		if o.state.CompareAndSwap(opQueued, opCanceled) {
			s.count(pb.Code_CODE_CANCELED, s.keyTypeOf(req))
			o.release()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		<-o.done
	}
	res := &pb.SignResult{Id: o.res.Id, Code: o.res.Code, Signature: o.res.Signature, Error: o.res.Error}
	o.release()
	return res, nil
}

// signerDesc is the Signer service as the server registers it: SignOne,
// a unary call to its clients, served as a stream, so that its request
// is paid for before gRPC reads it (a unary handler runs only once gRPC
// has read it), as a Sign stream's are.
var signerDesc = func() grpc.ServiceDesc {
	d := pb.Signer_ServiceDesc
	d.Methods = slices.DeleteFunc(slices.Clone(d.Methods), func(m grpc.MethodDesc) bool { return m.MethodName == "SignOne" })
	d.Streams = append(slices.Clone(d.Streams), grpc.StreamDesc{StreamName: "SignOne", Handler: signOneStream})
	return d
}()

// errNoRequest ends a SignOne call whose client sent no request.
var errNoRequest = status.Error(codes.InvalidArgument, "no request")

// signOneStream serves a SignOne call: reserve what its request may
// cost (waiting, as a stream does, while that does not fit), read it,
// sign it, answer.
func signOneStream(srv any, ss grpc.ServerStream) error {
	s := srv.(service).s
	ctx := ss.Context()
	id, _ := identityFromContext(ctx)
	cl := s.budget.join(id)
	defer s.budget.leave(cl)
	var (
		m    rawMsg
		resv int64
	)
	if err := s.budget.recv(ctx, s.draining, cl, &resv, ss.RecvMsg, &m); err != nil {
		if errors.Is(err, io.EOF) {
			err = errNoRequest
		}
		return err
	}
	req := new(pb.SignRequest)
	err := proto.Unmarshal(m.flat(), req)
	m.free()
	if err != nil {
		s.budget.unreserve(cl, &resv)
		return errDecode
	}
	res, err := s.signOne(ctx, cl, req, &resv)
	if err != nil {
		return err
	}
	return ss.SendMsg(res)
}

// PublicKey returns a key's DER SubjectPublicKeyInfo; an unknown key ID
// is the gRPC status NotFound, and so is a key the client may not use:
// a client learns nothing of the keys it may not use.
func (v service) PublicKey(ctx context.Context, req *pb.PublicKeyRequest) (*pb.PublicKeyResponse, error) {
	ring := v.s.ring.Load()
	id, _ := identityFromContext(ctx)
	k := ring.keys[req.GetKeyId()]
	if k == nil || !ring.allows(id, k) {
		return nil, status.Error(codes.NotFound, errUnknownKey)
	}
	return &pb.PublicKeyResponse{KeyId: k.id, Spki: k.spki}, nil
}

// Stats is the RPC of Server.Stats.
func (v service) Stats(context.Context, *pb.StatsRequest) (*pb.StatsResponse, error) {
	st := v.s.Stats()
	return &pb.StatsResponse{
		Received: st.Received, Signed: st.Signed, Canceled: st.Canceled, Expired: st.Expired,
		Failed: st.Failed, BatchesIn: st.BatchesIn, BatchesOut: st.BatchesOut,
	}, nil
}
