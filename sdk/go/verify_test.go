package podfiles_test

// The download verifier against servers that lie. The real server cannot be
// made to send a wrong trailer, so: crafted message streams fed to the
// verifier itself, and a tiny in-process grpc-go server that the real Client
// dials.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
	podfiles "github.com/podfiles/podfiles/sdk/go"
)

type crafted struct{ msgs []*v1.DownloadResponse }

func (c *crafted) Recv() (*v1.DownloadResponse, error) {
	if len(c.msgs) == 0 {
		return nil, io.EOF
	}
	m := c.msgs[0]
	c.msgs = c.msgs[1:]
	return m, nil
}

func hdr(length *uint64) *v1.DownloadResponse {
	return &v1.DownloadResponse{Part: &v1.DownloadResponse_Header{Header: &v1.DownloadHeader{
		Entry: &v1.FileEntry{Path: "/f", Size: 6}, Format: v1.ArchiveFormat_ARCHIVE_FORMAT_RAW, Length: length,
	}}}
}
func data(s string) *v1.DownloadResponse {
	return &v1.DownloadResponse{Part: &v1.DownloadResponse_Data{Data: []byte(s)}}
}
func trailer(digestOf string, sent uint64) *v1.DownloadResponse {
	d := sha256.Sum256([]byte(digestOf))
	return &v1.DownloadResponse{Part: &v1.DownloadResponse_Trailer{Trailer: &v1.DownloadTrailer{Sha256: d[:], BytesSent: sent}}}
}
func u64(n uint64) *uint64 { return &n }

func TestVerifierOnCraftedStreams(t *testing.T) {
	cases := []struct {
		name string
		msgs []*v1.DownloadResponse
		want error // nil: success
	}{
		{"intact", []*v1.DownloadResponse{hdr(u64(6)), data("abc"), data("def"), trailer("abcdef", 6)}, nil},
		{"intact tar stream (no length)", []*v1.DownloadResponse{hdr(nil), data("abcdef"), trailer("abcdef", 6)}, nil},
		{"wrong digest", []*v1.DownloadResponse{hdr(u64(6)), data("abcdef"), trailer("abcdeX", 6)}, &podfiles.DigestMismatchError{}},
		{"no trailer", []*v1.DownloadResponse{hdr(u64(6)), data("abc")}, podfiles.ErrShortDownload},
		{"trailer counts more than arrived", []*v1.DownloadResponse{hdr(nil), data("abc"), trailer("abc", 6)}, podfiles.ErrShortDownload},
		{"shorter than the header said", []*v1.DownloadResponse{hdr(u64(6)), data("abc"), trailer("abc", 3)}, podfiles.ErrShortDownload},
		{"longer than the header said", []*v1.DownloadResponse{hdr(u64(3)), data("abcdef"), trailer("abcdef", 6)}, podfiles.ErrDataLoss},
		{"trailer counts fewer than arrived", []*v1.DownloadResponse{hdr(nil), data("abcdef"), trailer("abcdef", 5)}, podfiles.ErrDataLoss},
		{"data before the header", []*v1.DownloadResponse{data("abcdef"), trailer("abcdef", 6)}, podfiles.ErrDataLoss},
		{"empty stream", nil, podfiles.ErrDataLoss},
		{"a message after the trailer", []*v1.DownloadResponse{hdr(u64(6)), data("abcdef"), trailer("abcdef", 6), data("x")}, podfiles.ErrDataLoss},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			res, err := podfiles.ReceiveForTest(&crafted{msgs: tc.msgs}, "/f", &out)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				if out.String() != "abcdef" || res.Bytes != 6 {
					t.Fatalf("wrote %q (%d bytes)", out.String(), res.Bytes)
				}
				return
			}
			if err == nil {
				t.Fatalf("want %v, got success", tc.want)
			}
			if digest, ok := tc.want.(*podfiles.DigestMismatchError); ok {
				if !errors.As(err, &digest) {
					t.Fatalf("want a *DigestMismatchError, got %T %v", err, err)
				}
			} else if !errors.Is(err, tc.want) {
				t.Fatalf("want %v, got %T %v", tc.want, err, err)
			}
			if !errors.Is(err, podfiles.ErrDataLoss) || status.Code(err) != codes.DataLoss {
				t.Fatalf("every verification failure is DATA_LOSS; got %v (code %v)", err, status.Code(err))
			}
		})
	}
}

// liar is a FileService that sends what its fields say, whatever was asked.
type liar struct {
	v1.UnimplementedFileServiceServer
	content string // bytes sent as data
	digest  string // the trailer's SHA-256 is of these bytes
	trailer bool
}

func (l *liar) Download(_ *v1.DownloadRequest, s grpc.ServerStreamingServer[v1.DownloadResponse]) error {
	n := uint64(len(l.digest))
	s.Send(&v1.DownloadResponse{Part: &v1.DownloadResponse_Header{Header: &v1.DownloadHeader{
		Entry: &v1.FileEntry{Path: "/f", Size: n, Mode: 0o100644}, Format: v1.ArchiveFormat_ARCHIVE_FORMAT_RAW, Length: &n,
	}}})
	s.Send(data(l.content))
	if l.trailer {
		s.Send(trailer(l.digest, uint64(len(l.content))))
	}
	return nil
}

// Upload answers with the digest of l.digest instead of what arrived.
func (l *liar) Upload(s grpc.ClientStreamingServer[v1.UploadRequest, v1.UploadResponse]) error {
	var n uint64
	for {
		m, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		n += uint64(len(m.GetData()))
	}
	d := sha256.Sum256([]byte(l.digest))
	return s.SendAndClose(&v1.UploadResponse{Entry: &v1.FileEntry{Path: "/f"}, BytesReceived: n, Sha256: d[:]})
}

func startLiar(t *testing.T, l *liar) *podfiles.Client {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	v1.RegisterFileServiceServer(srv, l)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	c, err := podfiles.Dial(lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDownloadFromALyingServer(t *testing.T) {
	ctx := testContext(t)
	local := filepath.Join(t.TempDir(), "f")

	t.Run("wrong trailer digest: DigestMismatchError, nothing left on disk", func(t *testing.T) {
		c := startLiar(t, &liar{content: "abcdef", digest: "abcdeX", trailer: true})
		_, err := c.Download(ctx, pod, "/f", io.Discard, podfiles.DownloadOptions{})
		var digest *podfiles.DigestMismatchError
		if !errors.As(err, &digest) {
			t.Fatalf("Download: want *DigestMismatchError, got %T %v", err, err)
		}
		if want := sha256.Sum256([]byte("abcdeX")); !bytes.Equal(digest.Want, want[:]) {
			t.Fatalf("Want is %x, the trailer said %x", digest.Want, want)
		}
		_, err = c.DownloadToFile(ctx, pod, "/f", local, podfiles.DownloadFileOptions{})
		if !errors.As(err, &digest) {
			t.Fatalf("DownloadToFile: want *DigestMismatchError, got %T %v", err, err)
		}
		for _, p := range []string{local, local + ".part"} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Fatalf("%s exists after a digest mismatch (%v)", p, err)
			}
		}
	})

	t.Run("stream ends without a trailer: ErrShortDownload, the part is kept for Resume", func(t *testing.T) {
		c := startLiar(t, &liar{content: "abc", digest: "abcdef", trailer: false})
		_, err := c.DownloadToFile(ctx, pod, "/f", local, podfiles.DownloadFileOptions{})
		if !errors.Is(err, podfiles.ErrShortDownload) {
			t.Fatalf("want ErrShortDownload, got %T %v", err, err)
		}
		if b, err := os.ReadFile(local + ".part"); err != nil || string(b) != "abc" {
			t.Fatalf("part: %q %v", b, err)
		}
		if _, err := os.Stat(local); !os.IsNotExist(err) {
			t.Fatalf("%s exists after a short download", local)
		}
	})

	t.Run("upload response with a wrong digest: DigestMismatchError (Committed)", func(t *testing.T) {
		c := startLiar(t, &liar{digest: "something else"})
		_, err := c.Upload(ctx, pod, "/f", bytes.NewReader([]byte("abcdef")), podfiles.UploadOptions{})
		var digest *podfiles.DigestMismatchError
		if !errors.As(err, &digest) || !digest.Committed {
			t.Fatalf("want *DigestMismatchError with Committed, got %T %v", err, err)
		}
	})
}
