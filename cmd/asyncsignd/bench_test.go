//go:build linux

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/seed-e1024768/async/internal/signpb"
)

// BenchmarkServeECDSA measures what serving costs: the CPU time the
// asyncsignd process spends per ECDSA P-256 signature, with requests
// pipelined over one mutual-TLS stream on loopback (batches of 64, up to
// 1024 in flight), against the CPU time of ecdsa.SignASN1 in process.
// It reports both and their ratio, efficiency (in-process CPU per
// signature / signer CPU per signature; issue 9 wants at least 0.9).
// The client runs in this process and is not counted.
//
//	go test -run XXX -bench ServeECDSA -benchtime 20000x ./cmd/asyncsignd
func BenchmarkServeECDSA(b *testing.B) {
	s := startServer(b)
	client := pb.NewSignerClient(dial(b, s.addr))
	ctx := testContext(b)
	id, _ := certKey(b, "ecdsap256")
	st, err := client.Sign(ctx)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256Sum([]byte("bench"))
	const batch, window = 64, 1024
	// One round trip first, so that the connection is up.
	if err := st.Send(&pb.RequestBatch{Requests: []*pb.SignRequest{{KeyId: id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest}}}); err != nil {
		b.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		b.Fatal(err)
	}
	credit := make(chan int, window/batch)
	for range window / batch {
		credit <- batch
	}
	errc := make(chan error, 1)
	b.ResetTimer()
	cpu0 := procCPU(b, s.cmd.Process.Pid)
	start := time.Now()
	go func() {
		var rb pb.RequestBatch
		for sent := 0; sent < b.N; {
			<-credit
			n := min(batch, b.N-sent)
			rb.Requests = rb.Requests[:0]
			for i := range n {
				rb.Requests = append(rb.Requests, &pb.SignRequest{Id: uint64(sent + i), KeyId: id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest})
			}
			if err := st.Send(&rb); err != nil {
				errc <- err
				return
			}
			sent += n
		}
		errc <- nil
	}()
	got, owed := 0, 0
	batches := 0
	for got < b.N {
		rb, err := st.Recv()
		if err != nil {
			b.Fatal(err)
		}
		batches++
		for _, r := range rb.Results {
			if r.Code != pb.Code_CODE_OK {
				b.Fatal(r)
			}
		}
		got += len(rb.Results)
		for owed += len(rb.Results); owed >= batch; owed -= batch {
			credit <- batch
		}
	}
	wall := time.Since(start)
	cpu := procCPU(b, s.cmd.Process.Pid) - cpu0
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	st.CloseSend()
	inproc := inProcessCPU(b, min(b.N, 20000))
	perOp := float64(cpu.Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp, "signer-cpu-ns/op")
	b.ReportMetric(float64(inproc.Nanoseconds())/float64(min(b.N, 20000)), "inproc-cpu-ns/op")
	b.ReportMetric(float64(inproc.Nanoseconds())/float64(min(b.N, 20000))/perOp, "efficiency")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "sigs/cpu-s")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "sigs/s")
	b.ReportMetric(float64(got)/float64(batches), "results/batch")
}

// procCPU returns the user and system CPU time process pid has used, from
// /proc (in ticks of 1/100 s, Linux's USER_HZ).
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skip("no /proc:", err)
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3; utime and stime are 14 and 15.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, f)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// inProcessCPU returns the CPU time this process takes to make n ECDSA
// P-256 signatures with ecdsa.SignASN1, one after another.
func inProcessCPU(b *testing.B, n int) time.Duration {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256Sum([]byte("bench"))
	cpu0 := selfCPU(b)
	for range n {
		if _, err := ecdsa.SignASN1(rand.Reader, key, digest); err != nil {
			b.Fatal(err)
		}
	}
	return selfCPU(b) - cpu0
}

func selfCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
