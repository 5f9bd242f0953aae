package signer

import (
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

func TestHealth(t *testing.T) {
	sv := serve(t, Config{})
	h := healthpb.NewHealthClient(sv.conn)
	for _, svc := range []string{"", pb.Signer_ServiceDesc.ServiceName} {
		r, err := h.Check(testContext(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v, %v", svc, r, err)
		}
	}
}

// TestStopWithHealthWatch: a client watching the server's health does
// not hold Stop to its timeout.
func TestStopWithHealthWatch(t *testing.T) {
	sv := serve(t, Config{})
	w, err := healthpb.NewHealthClient(sv.conn).Watch(testContext(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch: %v, %v", r, err)
	}
	start := time.Now()
	sv.s.Stop(10 * time.Second)
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Stop took %v", el)
	}
	for {
		r, err := w.Recv()
		if err != nil {
			break
		}
		if r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("watch while stopping: %v", r.Status)
		}
	}
}
