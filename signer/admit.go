package signer

import (
	"math"
	"time"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// What signing costs, in the scheduler's units of about 6.5 µs of one
// core, as measured here (Go 1.26, amd64): an ECDSA P-256 signature
// 26 µs, Ed25519 18 µs (over a short message; its message is hashed
// twice with SHA-512, about 1 unit per 2 KiB), RSA-2048 0.82 ms
// (PKCS #1 v1.5) and 0.90 ms (PSS), RSA-4096 6.0 ms. An RSA key costs
// as the cube of its size.
const (
	costECDSA     = 4
	costECDSAP384 = 20 // estimated: measure
	costECDSAP521 = 48 // estimated: measure
	costEd25519   = 3
	costEdPerUnit = 2 << 10 // bytes of message per further unit
	costRSA2048   = 128
	costOther     = 1 // a request refused at once by its worker
)

// keyCost returns what a signature by k costs, in the scheduler's
// units (for Ed25519, over an empty message).
func keyCost(k *key) int64 {
	switch k.family {
	case famECDSA:
		switch {
		case k.bits > 384:
			return costECDSAP521
		case k.bits > 256:
			return costECDSAP384
		}
		return costECDSA
	case famEd25519:
		return costEd25519
	default:
		return rsaCost(k.bits)
	}
}

// cost returns what signing req takes, in the scheduler's units.
func cost(keys map[string]*key, req *pb.SignRequest) int64 {
	return costOf(keys[req.GetKeyId()], req)
}

// costOf returns what signing req with k (nil: a key the server does
// not hold) takes.
func costOf(k *key, req *pb.SignRequest) int64 {
	switch {
	case k == nil:
		return costOther
	case k.family == famEd25519:
		return k.cost + int64(min(len(req.GetPayload()), MaxMessage)/costEdPerUnit)
	default:
		return k.cost
	}
}

func rsaCost(bits int) int64 {
	b := int64(bits)
	return max(1, costRSA2048*b*b*b/(2048*2048*2048))
}

// quantum is the cost of the costliest signature keys can make: the
// scheduler gives each client that much per turn.
func quantum(keys map[string]*key) int64 {
	q := int64(max(costECDSA, costEd25519+MaxMessage/costEdPerUnit))
	for _, k := range keys {
		q = max(q, k.cost)
	}
	return q
}

// deadlineOf returns when req runs out of time, on the server's monotonic
// clock counted like op.due (arrived is when it arrived), or 0 if never.
// timeout_nanos counts from arrival; deadline_unix_nano, the wall-clock
// instant older clients send, is read only when timeout_nanos is 0. A
// time that has run out already (a negative timeout, a deadline in the
// past) gives a deadline that has passed; one too far to count (past
// the year 2262 or so) gives none.
func deadlineOf(req *pb.SignRequest, arrived time.Duration) time.Duration {
	left := req.GetTimeoutNanos()
	if left == 0 {
		d := req.GetDeadlineUnixNano()
		if d == 0 {
			return 0
		}
		now := time.Now().UnixNano()
		if d <= now {
			left = -1
		} else {
			left = d - now // no overflow: now > 0
		}
	}
	switch {
	case left < 0:
		return max(arrived, 1) // passed: 0 would be none
	case left > math.MaxInt64-int64(arrived):
		return 0
	default:
		return arrived + time.Duration(left)
	}
}

// expired reports whether o's deadline passed before now (counted like
// op.due).
func (o *op) expired(now time.Duration) bool {
	return o.deadline != 0 && now > o.deadline
}
