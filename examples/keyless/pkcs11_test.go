//go:build linux && cgo

package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/seed-e1024768/async/internal/signtest"
	"github.com/seed-e1024768/async/internal/softhsm"
	"github.com/seed-e1024768/async/signer"
)

// TestPKCS11ServesWithTokenKey: the front end serves HTTPS with keys that
// live in a SoftHSM2 token: asyncsignd pkcs11-key makes them (an ECDSA and
// an RSA key, named as the certificates -alg picks) with their
// certificates, asyncsignd serve -pkcs11 serves only the token's keys, and
// curl, trusting DIR/ca.pem, gets the page, as does crypto/tls. Item 2 of
// "the signer in production".
func TestPKCS11ServesWithTokenKey(t *testing.T) {
	signerBin, keylessBin := binaries(t)
	tok := softhsm.New(t, "keyless")
	// A deployment of its own: the token's certificates replace init's,
	// which the other tests share.
	dir := filepath.Join(t.TempDir(), "deploy")
	if err := signer.Init(dir); err != nil {
		t.Fatal(err)
	}
	token := []string{"-pkcs11", tok.Module, "-pkcs11-token", tok.Label, "-pkcs11-pin-file", tok.PINFile}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, alg := range []string{"ecdsap256", "rsa2048"} {
		// The token's key takes the place of init's key file of that name.
		if err := os.Remove(filepath.Join(dir, "certs", alg+".pem")); err != nil {
			t.Fatal(err)
		}
		args := append(append([]string{"pkcs11-key"}, token...), "-type", alg, "-name", alg, dir)
		if out, err := exec.CommandContext(ctx, signerBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("asyncsignd pkcs11-key: %v\n%s", err, out)
		}
	}
	signd := signtest.Start(t, signerBin, append([]string{"serve", "-dir", dir, "-listen", "127.0.0.1:0"}, token...)...)
	srvDir := serverCopy(t, dir)
	ca := filepath.Join(dir, "ca.pem")
	for _, alg := range []string{"ecdsap256", "rsa2048"} {
		t.Run(alg, func(t *testing.T) {
			srv := signtest.Start(t, keylessBin, "-dir", srvDir, "-signer", signd.Addr, "-listen", "127.0.0.1:0", "-alg", alg)
			_, port, err := net.SplitHostPort(srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			body, err := get(ctx, clientTLS(t, dir), srv.Addr)
			if err != nil {
				t.Fatal(err)
			}
			checkBody(t, body, wantScheme[alg])
			curl := lookTool(t, "curl")
			out := runTool(t, curl, "-sS", "--max-time", "20", "--cacert", ca, "https://localhost:"+port+"/")
			checkBody(t, out, wantScheme[alg])
		})
	}
}
