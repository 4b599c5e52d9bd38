package podfiles_test

// Transfers of one large file through the SDK and through the generated
// client by hand (same connection options, same SHA-256 checks, same source
// and sink), against the podfiles serve of TestMain:
//
//	cd sdk/go && PODFILES_BENCH_MIB=1024 go test -run '^$' -bench . -benchtime 3x
//
// Reported per benchmark: MiB/s, client CPU (this process) and server CPU
// (the node process) in seconds per GiB moved.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
	podfiles "github.com/podfiles/podfiles/sdk/go"
)

const benchPath = "/bench/big.bin"

// benchFile is a file of PODFILES_BENCH_MIB MiB (default 256) of one random
// MiB repeated, in the served root; returns its size and SHA-256.
func benchFile(b *testing.B) (block []byte, size int64, digest []byte) {
	mibs, _ := strconv.Atoi(os.Getenv("PODFILES_BENCH_MIB"))
	if mibs <= 0 {
		mibs = 256
	}
	block = make([]byte, mib)
	rand.Read(block)
	size = int64(mibs) * mib
	os.MkdirAll(filepath.Dir(onDisk(benchPath)), 0o755)
	f, err := os.Create(onDisk(benchPath))
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	for i := 0; i < mibs; i++ {
		f.Write(block)
		h.Write(block)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return block, size, h.Sum(nil)
}

// repeatReader gives block over and over, n bytes in all (an upload source without disk reads).
type repeatReader struct {
	block []byte
	n     int64
	off   int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	k := copy(p, r.block[r.off:])
	r.off = (r.off + k) % len(r.block)
	r.n -= int64(k)
	return k, nil
}

// cpu is user+system seconds of this process and of the server process.
func cpu() (client, srv float64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	client = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", server.PID()))
	if err == nil {
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		srv = (ut + st) / 100 // USER_HZ
	}
	return client, srv
}

// measure runs fn b.N times and reports MiB/s and CPU s/GiB.
func measure(b *testing.B, size int64, fn func() error) {
	b.SetBytes(size)
	c0, s0 := cpu()
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	secs := time.Since(start).Seconds()
	c1, s1 := cpu()
	gib := float64(size) * float64(b.N) / (1 << 30)
	b.ReportMetric(float64(size)*float64(b.N)/mib/secs, "MiB/s")
	b.ReportMetric((c1-c0)/gib, "client-cpu-s/GiB")
	b.ReportMetric((s1-s0)/gib, "server-cpu-s/GiB")
}

// warmUp runs two untimed transfers first: the first ones in a fresh server
// process ran 25–30% slower here (its JIT warming up), which favoured
// whichever variant ran last.
func warmUp(b *testing.B, fn func() error) {
	for i := 0; i < 2; i++ {
		if err := fn(); err != nil {
			b.Fatal(err)
		}
	}
}

func rawConn(b *testing.B, opts ...grpc.DialOption) v1.FileServiceClient {
	conn, err := grpc.NewClient(strings.TrimPrefix(serverURL, "http://"), opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return v1.NewFileServiceClient(conn)
}

// rawDownload is the generated client's Download with the checks done by hand.
func rawDownload(ctx context.Context, rpc v1.FileServiceClient, size int64, digest []byte) error {
	stream, err := rpc.Download(ctx, &v1.DownloadRequest{Container: &v1.ContainerRef{Namespace: "local", Pod: "local", Container: "local"}, Path: benchPath})
	if err != nil {
		return err
	}
	h := sha256.New()
	var n int64
	var trailer *v1.DownloadTrailer
	for {
		m, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if d := m.GetData(); d != nil {
			h.Write(d)
			io.Discard.Write(d)
			n += int64(len(d))
		} else if t := m.GetTrailer(); t != nil {
			trailer = t
		}
	}
	if trailer == nil || n != size || !bytes.Equal(h.Sum(nil), trailer.Sha256) || !bytes.Equal(trailer.Sha256, digest) {
		return fmt.Errorf("raw download: %d bytes, trailer %v", n, trailer)
	}
	return nil
}

func BenchmarkDownload(b *testing.B) {
	_, size, digest := benchFile(b)
	ctx := context.Background()
	c := dial(b)
	warmUp(b, func() error {
		_, err := c.Download(ctx, pod, benchPath, io.Discard, podfiles.DownloadOptions{})
		return err
	})
	b.Run("sdk", func(b *testing.B) {
		measure(b, size, func() error {
			res, err := c.Download(ctx, pod, benchPath, io.Discard, podfiles.DownloadOptions{})
			if err == nil && (res.Bytes != uint64(size) || !bytes.Equal(res.SHA256, digest)) {
				err = fmt.Errorf("sdk download: %d bytes", res.Bytes)
			}
			return err
		})
	})
	b.Run("raw", func(b *testing.B) {
		rpc := rawConn(b, podfiles.DialOptions()...)
		measure(b, size, func() error { return rawDownload(ctx, rpc, size, digest) })
	})
	b.Run("raw-grpc-default-windows", func(b *testing.B) {
		rpc := rawConn(b, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(podfiles.MaxMessageSize)))
		measure(b, size, func() error { return rawDownload(ctx, rpc, size, digest) })
	})
	b.Run("sdk-to-file", func(b *testing.B) {
		local := filepath.Join(b.TempDir(), "big.bin")
		measure(b, size, func() error {
			_, err := c.DownloadToFile(ctx, pod, benchPath, local, podfiles.DownloadFileOptions{})
			return err
		})
	})
}

func BenchmarkUpload(b *testing.B) {
	block, size, digest := benchFile(b)
	ctx := context.Background()
	c := dial(b)
	target := "/bench/up.bin"
	warmUp(b, func() error {
		_, err := c.Upload(ctx, pod, target, &repeatReader{block: block, n: size}, podfiles.UploadOptions{Overwrite: true})
		return err
	})
	b.Run("sdk", func(b *testing.B) {
		measure(b, size, func() error {
			_, err := c.Upload(ctx, pod, target, &repeatReader{block: block, n: size},
				podfiles.UploadOptions{Size: size, SHA256: digest, Overwrite: true})
			return err
		})
	})
	b.Run("raw", func(b *testing.B) {
		rpc := rawConn(b, podfiles.DialOptions()...)
		measure(b, size, func() error {
			stream, err := rpc.Upload(ctx)
			if err != nil {
				return err
			}
			stream.Send(&v1.UploadRequest{Part: &v1.UploadRequest_Header{Header: &v1.UploadHeader{
				Container: &v1.ContainerRef{Namespace: "local", Pod: "local", Container: "local"}, Path: target,
				Options: &v1.UploadOptions{Overwrite: v1.OverwritePolicy_OVERWRITE_POLICY_OVERWRITE, ExpectedSize: ptrU64(uint64(size)), ExpectedSha256: digest},
			}}})
			r := &repeatReader{block: block, n: size}
			buf := make([]byte, podfiles.UploadChunk)
			for {
				n, err := io.ReadFull(r, buf)
				if n > 0 {
					if err := stream.Send(&v1.UploadRequest{Part: &v1.UploadRequest_Data{Data: buf[:n]}}); err != nil {
						return err
					}
				}
				if err != nil {
					break
				}
			}
			_, err = stream.CloseAndRecv()
			return err
		})
	})
	b.Run("sdk-from-file", func(b *testing.B) {
		local := onDisk(benchPath) // a local file; UploadFile hashes it first, then sends it
		measure(b, size, func() error {
			_, err := c.UploadFile(ctx, pod, local, target, podfiles.UploadOptions{Overwrite: true})
			return err
		})
	})
}

func ptrU64(n uint64) *uint64 { return &n }
