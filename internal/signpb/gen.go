// Package signpb is the generated gRPC code for sign.proto, the protocol
// between package remote and cmd/asyncsignd. Do not edit the .pb.go files;
// change sign.proto and regenerate with
//
//	go generate ./internal/signpb
//
// which needs protoc (Debian: protobuf-compiler) and the two plugins:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
package signpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative sign.proto
