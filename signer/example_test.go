package signer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	pb "github.com/seed-e1024768/async/internal/signpb"
	"github.com/seed-e1024768/async/signer"
)

// A deployment, a signer serving it on loopback, and a client that has
// an ECDSA signature made and checks it.
func Example() {
	tmp, err := os.MkdirTemp("", "signer-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "deploy")
	if err := signer.Init(dir); err != nil {
		log.Fatal(err)
	}

	s, err := signer.New(signer.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	defer func() {
		s.Stop(5 * time.Second)
		if err := <-served; err != nil {
			log.Fatal(err)
		}
	}()

	tc, err := signer.ClientTLS(dir)
	if err != nil {
		log.Fatal(err)
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := pb.NewSignerClient(conn)
	ctx := context.Background()

	// Find the ECDSA P-256 key among the signer's keys.
	for _, id := range s.KeyIDs() {
		pk, err := client.PublicKey(ctx, &pb.PublicKeyRequest{KeyId: id})
		if err != nil {
			log.Fatal(err)
		}
		pub, err := x509.ParsePKIXPublicKey(pk.Spki)
		if err != nil {
			log.Fatal(err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			continue
		}
		digest := sha256.Sum256([]byte("hello"))
		r, err := client.SignOne(ctx, &pb.SignRequest{KeyId: id, Algorithm: pb.Algorithm_ECDSA_P256_SHA256, Payload: digest[:]})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(r.Code, ecdsa.VerifyASN1(ec, digest[:], r.Signature))
	}
	// Output: CODE_OK true
}
