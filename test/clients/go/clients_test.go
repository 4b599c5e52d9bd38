// Package clients drives a running podfiles server with the generated Go
// module, over grpc-go and over connect-go (Connect binary and JSON, gRPC and
// gRPC-Web), the way an outside Go program would.
//
// Run by test/clients/go.spec.ts with PODFILES_ADDR (host:port) and
// PODFILES_ROOT (the directory served as container local/local/local, seeded
// with /seed/hello.txt, /seed/random.bin and /seed/sub/).
package clients

import (
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
	"github.com/podfiles/podfiles/gen/go/podfiles/v1/podfilesv1connect"
)

const maxMsg = 16 << 20

func TestClients(t *testing.T) {
	addr, root := os.Getenv("PODFILES_ADDR"), os.Getenv("PODFILES_ROOT")
	if addr == "" || root == "" {
		t.Skip("PODFILES_ADDR and PODFILES_ROOT are not set (run through test/clients/go.spec.ts)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(8<<20),
		grpc.WithInitialConnWindowSize(32<<20),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	base := "http://" + addr
	limits := []connect.ClientOption{connect.WithReadMaxBytes(maxMsg), connect.WithSendMaxBytes(maxMsg)}
	with := func(extra ...connect.ClientOption) []connect.ClientOption {
		return append(append([]connect.ClientOption{}, limits...), extra...)
	}
	h2c, h1 := h2cClient(), h1Client()

	transports := []struct {
		name string
		api  fileAPI
	}{
		{"grpc-go", grpcAPI{v1.NewFileServiceClient(conn)}},
		{"connect-h2c-proto", connectAPI{podfilesv1connect.NewFileServiceClient(h2c, base, with()...)}},
		{"connect-h1-json", connectAPI{podfilesv1connect.NewFileServiceClient(h1, base, with(connect.WithProtoJSON())...)}},
		{"connect-h1-proto", connectAPI{podfilesv1connect.NewFileServiceClient(h1, base, with()...)}},
		{"connect-go-grpc-h2c", connectAPI{podfilesv1connect.NewFileServiceClient(h2c, base, with(connect.WithGRPC())...)}},
		{"connect-go-grpcweb-h1", connectAPI{podfilesv1connect.NewFileServiceClient(h1, base, with(connect.WithGRPCWeb())...)}},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) { scenario(ctx, t, tr.api, tr.name, root) })
	}
}

// h2cClient speaks HTTP/2 without TLS (prior knowledge), with large windows.
func h2cClient() *http.Client {
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{
		Protocols: protocols,
		HTTP2: &http.HTTP2Config{
			MaxReceiveBufferPerStream:     8 << 20,
			MaxReceiveBufferPerConnection: 32 << 20,
		},
	}}
}

// h1Client speaks HTTP/1.1 only.
func h1Client() *http.Client {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Client{Transport: &http.Transport{Protocols: protocols}}
}
