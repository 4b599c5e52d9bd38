// podfiles-bench: a grpc-go benchmark client for podfiles, built on the
// project's generated Go module (gen/go). One operation per process, one JSON
// line on stdout, like bench/client.mjs:
//
//	podfiles-bench download --url http://127.0.0.1:PORT --path /big.bin [--chunk-size N] [--expect-bytes N] [--concurrency N]
//	  → {"bytes":N,"ms":F,"firstByteMs":F}
//	podfiles-bench upload --url http://127.0.0.1:PORT --src /local/file --dest /path [--chunk-size N]
//	  → {"bytes":N,"ms":F}
//
// The arguments may also be one JSON object with bench/client.mjs's names:
//
//	podfiles-bench '{"op":"download","url":"http://…","path":"/big.bin","chunkSize":1048576,"expectBytes":N}'
//
// Both operations open the connection with a Stat first, outside the timing.
// Errors go to stderr ("client error: …") with exit status 1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
)

const (
	MiB           = 1 << 20
	streamWindow  = 8 * MiB  // what every project client sets
	connWindow    = 32 * MiB // idem, for the connection
	maxMsg        = 64 * MiB
	socketBufSize = 1 * MiB // bufio sizes of grpc-go's framer (default 32 KiB): fewer read/write syscalls
)

var container = &v1.ContainerRef{Namespace: "local", Pod: "local", Container: "local"}

type args struct {
	Op          string `json:"op"`
	URL         string `json:"url"`
	Path        string `json:"path"`
	Src         string `json:"src"`
	Dest        string `json:"dest"`
	ChunkSize   int    `json:"chunkSize"`
	ExpectBytes int64  `json:"expectBytes"`
	Concurrency int    `json:"concurrency"`
	TimeoutMs   int    `json:"timeoutMs"`
}

func parseArgs(argv []string) (args, error) {
	a := args{ExpectBytes: -1}
	if len(argv) == 1 && strings.HasPrefix(strings.TrimSpace(argv[0]), "{") {
		dec := json.NewDecoder(strings.NewReader(argv[0]))
		if err := dec.Decode(&a); err != nil {
			return a, fmt.Errorf("arguments: %w", err)
		}
		return a, nil
	}
	if len(argv) == 0 {
		return a, errors.New("usage: podfiles-bench download|upload --url URL … (or one JSON object)")
	}
	a.Op = argv[0]
	fs := flag.NewFlagSet(a.Op, flag.ContinueOnError)
	fs.StringVar(&a.URL, "url", "", "server URL, http://host:port (h2c)")
	fs.StringVar(&a.Path, "path", "", "download: path inside the container")
	fs.StringVar(&a.Src, "src", "", "upload: local file to send")
	fs.StringVar(&a.Dest, "dest", "", "upload: path inside the container")
	fs.IntVar(&a.ChunkSize, "chunk-size", 0, "download: DownloadRequest.chunk_size (0: the server's default); upload: bytes per data message (default 1 MiB)")
	fs.Int64Var(&a.ExpectBytes, "expect-bytes", -1, "download: fail unless each download carries this many bytes")
	fs.IntVar(&a.Concurrency, "concurrency", 1, "download: parallel downloads of the same path over the one connection")
	fs.IntVar(&a.TimeoutMs, "timeout-ms", 0, "deadline of the whole operation (0: none)")
	if err := fs.Parse(argv[1:]); err != nil {
		return a, err
	}
	if fs.NArg() != 0 {
		return a, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return a, nil
}

// dial connects to an http://host:port URL over h2c (prior knowledge).
func dial(raw string) (*grpc.ClientConn, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--url %q: want http://host:port", raw)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("--url %q: only http:// (h2c) is supported", raw)
	}
	return grpc.NewClient("passthrough:///"+u.Host,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithReadBufferSize(socketBufSize),
		grpc.WithWriteBufferSize(socketBufSize),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)),
	)
}

func msSince(t0 time.Time) float64 { return float64(time.Since(t0).Nanoseconds()) / 1e6 }

// warm opens the connection (and reaches the server's handler) with a Stat, outside the timing.
func warm(ctx context.Context, c v1.FileServiceClient) error {
	if _, err := c.Stat(ctx, &v1.StatRequest{Container: container, Path: "/"}); err != nil {
		return fmt.Errorf("warm-up Stat: %w", err)
	}
	return nil
}

type downloadResult struct {
	bytes       int64
	firstByteMs float64
}

func downloadOnce(ctx context.Context, c v1.FileServiceClient, a args, t0 time.Time) (downloadResult, error) {
	var r downloadResult
	stream, err := c.Download(ctx, &v1.DownloadRequest{Container: container, Path: a.Path, ChunkSize: uint32(a.ChunkSize)})
	if err != nil {
		return r, err
	}
	var trailer *v1.DownloadTrailer
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return r, err
		}
		switch p := m.Part.(type) {
		case *v1.DownloadResponse_Data:
			if r.bytes == 0 {
				r.firstByteMs = msSince(t0)
			}
			r.bytes += int64(len(p.Data))
		case *v1.DownloadResponse_Trailer:
			trailer = p.Trailer
		}
	}
	if trailer == nil {
		return r, errors.New("the stream ended without a trailer")
	}
	if int64(trailer.BytesSent) != r.bytes {
		return r, fmt.Errorf("trailer says %d bytes sent, received %d", trailer.BytesSent, r.bytes)
	}
	if a.ExpectBytes >= 0 && r.bytes != a.ExpectBytes {
		return r, fmt.Errorf("received %d bytes, expected %d", r.bytes, a.ExpectBytes)
	}
	return r, nil
}

func download(ctx context.Context, c v1.FileServiceClient, a args) (any, error) {
	if a.Path == "" {
		return nil, errors.New("download needs --path")
	}
	n := max(a.Concurrency, 1)
	if err := warm(ctx, c); err != nil {
		return nil, err
	}
	t0 := time.Now()
	results := make([]downloadResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = downloadOnce(ctx, c, a, t0)
		}()
	}
	wg.Wait()
	ms := msSince(t0)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var bytes int64
	first := results[0].firstByteMs
	for _, r := range results {
		bytes += r.bytes
		first = min(first, r.firstByteMs)
	}
	return map[string]any{"bytes": bytes, "ms": ms, "firstByteMs": first}, nil
}

// upload sends the header, then the file in chunks of a.ChunkSize bytes read
// into ONE reused buffer.
//
// Reusing the buffer relies on grpc-go's SendMsg serialising the message before
// it returns: with the default proto codec (google.golang.org/grpc/encoding/proto,
// codecV2.Marshal) the message is marshalled into a buffer of grpc-go's own
// pool, and only that copy is queued for the transport (and kept for retries);
// SendMsg may return before the bytes are on the wire, but no longer reads the
// message. grpc-go's docs add "It is not safe to modify the message after
// calling SendMsg. Tracing libraries and stats handlers may use the message
// lazily": this program installs no stats handler, interceptor, binary logging
// (GRPC_BINARY_LOG_FILTER must be unset) or custom codec, which is what makes
// the reuse safe here.
func upload(ctx context.Context, c v1.FileServiceClient, a args) (any, error) {
	if a.Src == "" || a.Dest == "" {
		return nil, errors.New("upload needs --src and --dest")
	}
	chunk := a.ChunkSize
	if chunk <= 0 {
		chunk = MiB
	}
	f, err := os.Open(a.Src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if os.Getenv("GRPC_BINARY_LOG_FILTER") != "" {
		return nil, errors.New("GRPC_BINARY_LOG_FILTER is set: binary logging may read messages after SendMsg, and upload reuses its buffer")
	}
	if err := warm(ctx, c); err != nil {
		return nil, err
	}

	t0 := time.Now()
	stream, err := c.Upload(ctx)
	if err != nil {
		return nil, err
	}
	header := &v1.UploadRequest{Part: &v1.UploadRequest_Header{Header: &v1.UploadHeader{
		Container: container,
		Path:      a.Dest,
		Options:   &v1.UploadOptions{Overwrite: v1.OverwritePolicy_OVERWRITE_POLICY_OVERWRITE},
	}}}
	// sendErr: on a send error grpc-go returns io.EOF and keeps the status for the receive side.
	sendErr := func(err error) error {
		if err == io.EOF {
			if _, rerr := stream.CloseAndRecv(); rerr != nil {
				return rerr
			}
		}
		return err
	}
	if err := stream.Send(header); err != nil {
		return nil, sendErr(err)
	}
	buf := make([]byte, chunk)
	data := &v1.UploadRequest_Data{}
	msg := &v1.UploadRequest{Part: data}
	var bytes int64
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			data.Data = buf[:n]
			if err := stream.Send(msg); err != nil {
				return nil, sendErr(err)
			}
			bytes += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	res, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	ms := msSince(t0)
	if int64(res.BytesReceived) != bytes {
		return nil, fmt.Errorf("server received %d of %d bytes", res.BytesReceived, bytes)
	}
	return map[string]any{"bytes": bytes, "ms": ms}, nil
}

func main() {
	a, err := parseArgs(os.Args[1:])
	if err != nil {
		fail(err)
	}
	ops := map[string]func(context.Context, v1.FileServiceClient, args) (any, error){"download": download, "upload": upload}
	op, ok := ops[a.Op]
	if !ok {
		fail(fmt.Errorf("unknown operation %q (download, upload)", a.Op))
	}
	if a.URL == "" {
		fail(errors.New("--url is required"))
	}
	conn, err := dial(a.URL)
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if a.TimeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(a.TimeoutMs)*time.Millisecond)
		defer cancel()
	}
	result, err := op(ctx, v1.NewFileServiceClient(conn), a)
	if err != nil {
		fail(err)
	}
	out, _ := json.Marshal(result)
	os.Stdout.Write(append(out, '\n'))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "client error: %v\n", err)
	os.Exit(1)
}
