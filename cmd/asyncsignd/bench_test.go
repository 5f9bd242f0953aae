//go:build linux

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/seed-e1024768/async/internal/signpb"
	"github.com/seed-e1024768/async/signer"
)

// BenchmarkServeECDSA measures what serving costs: the CPU time the
// asyncsignd process spends per ECDSA P-256 signature, with requests
// pipelined over one mutual-TLS stream on loopback (see pump), against
// the CPU time of ecdsa.SignASN1 in process, on as many goroutines as the
// signer has workers (inproc) and on one (inproc1): a signature costs
// more CPU time when every core signs at once (shared caches, SMT), and
// the signer's workers do. It reports them and the ratio efficiency
// (inproc / signer; issue 9 wants at least 0.9). The client runs in this
// process and is not counted.
//
//	go test -run XXX -bench ServeECDSA -benchtime 20000x ./cmd/asyncsignd
//
// With ASYNCSIGND_CPUPROFILE=file the signer writes its CPU profile
// there (go tool pprof file): the share of ecdsa.SignASN1 in it is the
// efficiency with the machine's noise taken out.
func BenchmarkServeECDSA(b *testing.B) {
	var extra []string
	if f := os.Getenv("ASYNCSIGND_CPUPROFILE"); f != "" {
		extra = []string{"-cpuprofile", f}
	}
	s := startServer(b, extra...)
	pid := s.Cmd.Process.Pid
	st, id := openStream(b, s.Addr)
	cpu0 := procCPU(b, pid)
	start := time.Now()
	perBatch := pump(b, st, id)
	wall := time.Since(start)
	cpu := procCPU(b, pid) - cpu0
	n := min(b.N, 20000)
	inproc := float64(inProcessCPU(b, n, runtime.GOMAXPROCS(0)).Nanoseconds()) / float64(n)
	inproc1 := float64(inProcessCPU(b, n, 1).Nanoseconds()) / float64(n)
	perOp := float64(cpu.Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp, "signer-cpu-ns/op")
	b.ReportMetric(inproc, "inproc-cpu-ns/op")
	b.ReportMetric(inproc1, "inproc1-cpu-ns/op")
	b.ReportMetric(inproc/perOp, "efficiency")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "sigs/cpu-s")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "sigs/s")
	b.ReportMetric(perBatch, "results/batch")
	if len(extra) > 0 {
		// Let the signer write its profile.
		s.Cmd.Process.Signal(syscall.SIGTERM)
		wait(b, s)
	}
}

// BenchmarkServeECDSAInProcess is BenchmarkServeECDSA with the server in
// this process, for a profile or allocs/op of client and server
// together.
func BenchmarkServeECDSAInProcess(b *testing.B) {
	s, err := signer.New(signer.Config{Dir: deploy})
	if err != nil {
		b.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	defer func() {
		s.Stop(5 * time.Second)
		if err := <-served; err != nil {
			b.Error(err)
		}
	}()
	st, id := openStream(b, lis.Addr().String())
	b.ReportAllocs()
	b.ReportMetric(pump(b, st, id), "results/batch")
}

// openStream opens a Sign stream to addr, makes one round trip on it so
// that the connection is up, and returns it with the ECDSA key's ID.
func openStream(b *testing.B, addr string) (pb.Signer_SignClient, string) {
	st, err := pb.NewSignerClient(dial(b, addr)).Sign(testContext(b))
	if err != nil {
		b.Fatal(err)
	}
	id, _ := certKey(b, "ecdsap256")
	if err := st.Send(&pb.RequestBatch{Requests: []*pb.SignRequest{{KeyId: id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: sha256Sum(nil)}}}); err != nil {
		b.Fatal(err)
	}
	// The stream's limits come first, then the answer.
	for n := 0; n == 0; {
		rb, err := st.Recv()
		if err != nil {
			b.Fatal(err)
		}
		n = len(rb.Results)
	}
	return st, id
}

// pump has b.N ECDSA signatures made on st, in batches of 64 with up to
// 1024 in flight, with b's timer running, then closes st; it returns the
// mean number of results per batch received.
func pump(b *testing.B, st pb.Signer_SignClient, id string) float64 {
	const batch, window = 64, 1024
	digest := sha256Sum([]byte("bench"))
	credit := make(chan struct{}, window/batch)
	for range window / batch {
		credit <- struct{}{}
	}
	errc := make(chan error, 1)
	b.ResetTimer()
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
	got, owed, batches := 0, 0, 0
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
			credit <- struct{}{}
		}
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	st.CloseSend()
	return float64(got) / float64(batches)
}

// procCPU returns the user and system CPU time process pid has used, from
// /proc (in ticks of 1/100 s, Linux's USER_HZ).
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skip("no /proc:", err)
	}
	// Fields after the command name (which may hold spaces) start with
	// state, field 3; utime and stime are fields 14 and 15.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, f)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// inProcessCPU returns the CPU time this process takes to make n ECDSA
// P-256 signatures with ecdsa.SignASN1 on g goroutines at once.
func inProcessCPU(b *testing.B, n, g int) time.Duration {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256Sum([]byte("bench"))
	cpu0 := selfCPU(b)
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() {
			for range n/g + min(1, n%g/(i+1)) {
				if _, err := ecdsa.SignASN1(rand.Reader, key, digest); err != nil {
					panic(err)
				}
			}
		})
	}
	wg.Wait()
	return selfCPU(b) - cpu0
}

func selfCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
