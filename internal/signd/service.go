package signd

import (
	"context"
	"time"

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
func (v service) SignOne(ctx context.Context, req *pb.SignRequest) (*pb.SignResult, error) {
	s := v.s
	s.counters.received.Add(1)
	if s.isDraining() {
		s.count(pb.Code_CODE_UNAVAILABLE)
		return &pb.SignResult{Id: req.GetId(), Code: pb.Code_CODE_UNAVAILABLE, Error: errShuttingDown}, nil
	}
	var arrived time.Duration
	if req.GetTimeoutNanos() != 0 || req.GetDeadlineUnixNano() != 0 {
		arrived = time.Since(s.base)
	}
	id, _ := identityFromContext(ctx)
	cl := s.budget.join(id)
	defer s.budget.leave(cl)
	size := int64(proto.Size(req)) + opOverhead
	if msg := s.budget.charge(cl, size); msg != "" {
		s.count(pb.Code_CODE_OVERLOADED)
		return &pb.SignResult{Id: req.GetId(), Code: pb.Code_CODE_OVERLOADED, Error: msg}, nil
	}
	o := newOp(req, nil, 2)
	o.cl, o.b, o.charge = cl, s.budget, size
	o.cost = cost(s.keys, req)
	if arrived != 0 {
		o.deadline = deadlineOf(req, arrived)
	}
	if o.done == nil {
		o.done = make(chan struct{}, 1)
	}
	s.q.push(o)
	select {
	case <-o.done:
	case <-ctx.Done():
		if o.state.CompareAndSwap(opQueued, opCanceled) {
			s.count(pb.Code_CODE_CANCELED)
			o.release()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		<-o.done
	}
	res := &pb.SignResult{Id: o.res.Id, Code: o.res.Code, Signature: o.res.Signature, Error: o.res.Error}
	o.release()
	return res, nil
}

// PublicKey returns a key's DER SubjectPublicKeyInfo; an unknown key ID
// is the gRPC status NotFound.
func (v service) PublicKey(_ context.Context, req *pb.PublicKeyRequest) (*pb.PublicKeyResponse, error) {
	k := v.s.keys[req.GetKeyId()]
	if k == nil {
		return nil, status.Error(codes.NotFound, errUnknownKey)
	}
	return &pb.PublicKeyResponse{KeyId: k.id, Spki: k.spki}, nil
}

// Stats is the RPC of Server.Stats.
func (v service) Stats(context.Context, *pb.StatsRequest) (*pb.StatsResponse, error) {
	return v.s.Stats(), nil
}
