package podfiles_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/grpc"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
	podfiles "github.com/podfiles/podfiles/sdk/go"
)

// uploadRecorder keeps the UploadRequests a client sends (without their data).
type uploadRecorder struct {
	mu       sync.Mutex
	headers  []*v1.UploadHeader
	trailers []*v1.UploadTrailer
}

func (r *uploadRecorder) option() podfiles.Option {
	return podfiles.WithGRPCOptions(grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(ctx, desc, cc, method, opts...)
		return &recordingStream{ClientStream: s, r: r}, err
	}))
}

type recordingStream struct {
	grpc.ClientStream
	r *uploadRecorder
}

func (s *recordingStream) SendMsg(m any) error {
	if req, ok := m.(*v1.UploadRequest); ok {
		s.r.mu.Lock()
		if h := req.GetHeader(); h != nil {
			s.r.headers = append(s.r.headers, h)
		}
		if t := req.GetTrailer(); t != nil {
			s.r.trailers = append(s.r.trailers, t)
		}
		s.r.mu.Unlock()
	}
	return s.ClientStream.SendMsg(m)
}

// readChars is what this process has read through read(2) and friends (the
// server is another process: here that is the file and the responses).
func readChars(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skip("no /proc/self/io:", err)
	}
	n, _ := strconv.ParseInt(regexp.MustCompile(`rchar: (\d+)`).FindStringSubmatch(string(b))[1], 10, 64)
	return n
}

// UploadFile reads its file once: the SHA-256 is computed while sending and
// goes in the UploadTrailer, the size in the header.
func TestUploadFileReadsItsFileOnceAndSendsTheDigestInTheTrailer(t *testing.T) {
	rec := &uploadRecorder{}
	c, err := podfiles.Dial(serverURL, rec.option())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testContext(t)
	base := dir(t, "up-trailer")
	const size = 32 * mib
	content := randomBytes(t, size)
	local := filepath.Join(t.TempDir(), "f")
	writeFile(t, local, content)

	before := readChars(t)
	res, err := c.UploadFile(ctx, pod, local, base+"/f", podfiles.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	read := readChars(t) - before
	// the old UploadFile hashed the file before sending it: 2× its size
	if read < size || read > size*3/2 {
		t.Fatalf("read %d bytes for a %d-byte file", read, size)
	}
	if !bytes.Equal(res.SHA256, sum(content)) || !bytes.Equal(readFile(t, onDisk(base+"/f")), content) {
		t.Fatalf("sha %x", res.SHA256)
	}
	if len(rec.headers) != 1 || rec.headers[0].Options.ExpectedSha256 != nil || rec.headers[0].Options.GetExpectedSize() != size {
		t.Fatalf("header %v", rec.headers)
	}
	if len(rec.trailers) != 1 || !bytes.Equal(rec.trailers[0].ExpectedDigest, sum(content)) || rec.trailers[0].ExpectedSize != nil {
		t.Fatalf("trailers %v", rec.trailers)
	}
}

// A reader of unknown length: its count and digest both go in the trailer.
func TestUploadOfAPlainReaderSendsSizeAndDigestInTheTrailer(t *testing.T) {
	rec := &uploadRecorder{}
	c, err := podfiles.Dial(serverURL, rec.option())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	base := dir(t, "up-trailer-plain")
	content := randomBytes(t, 2*mib+3)
	if _, err := c.Upload(testContext(t), pod, base+"/f", io.MultiReader(bytes.NewReader(content)), podfiles.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(rec.trailers) != 1 || rec.trailers[0].GetExpectedSize() != uint64(len(content)) || !bytes.Equal(rec.trailers[0].ExpectedDigest, sum(content)) {
		t.Fatalf("trailers %v", rec.trailers)
	}
	if rec.headers[0].Options.ExpectedSize != nil {
		t.Fatalf("header %v", rec.headers[0])
	}
}
