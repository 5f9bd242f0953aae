//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkServeECDSAPolicy is BenchmarkServeECDSA's signer CPU per
// signature without a policy (every client may use every key) and with
// one that names the client and its key: what authorization costs on
// the hot path. Alternate the two, on a quiet machine:
//
//	go test -run XXX -bench ServeECDSAPolicy -benchtime 20000x -count 5 ./cmd/asyncsignd
func BenchmarkServeECDSAPolicy(b *testing.B) {
	needBinary(b)
	for _, c := range []struct{ name, policy string }{
		{"none", ""},
		{"policy", `{"someone": ["*"], "asyncsignd client": ["rsa2048", "ecdsap256"]}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "deploy")
			if out, err := exec.Command("cp", "-a", deploy, dir).CombinedOutput(); err != nil {
				b.Fatalf("cp: %v\n%s", err, out)
			}
			if c.policy != "" {
				if err := os.WriteFile(filepath.Join(dir, "policy.json"), []byte(c.policy), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			s := startServer(b, "-dir", dir)
			st, id := openStream(b, s.Addr)
			pid := s.Cmd.Process.Pid
			cpu0 := procCPU(b, pid)
			pump(b, st, id)
			cpu := procCPU(b, pid) - cpu0
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "signer-cpu-ns/op")
		})
	}
}
