package clients

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
)

// roundTrips uploads and downloads the edge sizes, and a range of the last one.
func roundTrips(ctx context.Context, t *testing.T, api fileAPI, dir string) {
	for _, size := range []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1} {
		content := make([]byte, size)
		rand.Read(content)
		path := fmt.Sprintf("%s/rt-%d", dir, size)
		_, err := api.Upload(ctx, uploadMsgs(path, nil, content, 16<<10))
		must(t, "Upload "+path, err)
		msgs, err := api.Download(ctx, &v1.DownloadRequest{Container: local, Path: path, ChunkSize: 16 << 10})
		must(t, "Download "+path, err)
		checkDownload(t, msgs, content)
		if size > 100 {
			part, err := api.Download(ctx, &v1.DownloadRequest{Container: local, Path: path, Offset: 100, Length: 50})
			must(t, "Download range "+path, err)
			if h := part[0].GetHeader(); h.GetOffset() != 100 || h.GetLength() != 50 {
				t.Errorf("range header = %v", h)
			}
			var got []byte
			for _, m := range part {
				got = append(got, m.GetData()...)
			}
			if !bytes.Equal(got, content[100:150]) {
				t.Errorf("range %s: wrong bytes", path)
			}
		}
	}
}

// downloadTar reads /seed as a tar stream with Go's archive/tar.
func downloadTar(ctx context.Context, t *testing.T, api fileAPI) {
	msgs, err := api.Download(ctx, &v1.DownloadRequest{Container: local, Path: "/seed", Format: v1.ArchiveFormat_ARCHIVE_FORMAT_TAR})
	must(t, "Download tar", err)
	if h := msgs[0].GetHeader(); h.GetFormat() != v1.ArchiveFormat_ARCHIVE_FORMAT_TAR || h.Length != nil {
		t.Errorf("tar header = %v", h)
	}
	var buf bytes.Buffer
	for _, m := range msgs {
		buf.Write(m.GetData())
	}
	tr := tar.NewReader(&buf)
	found := map[string]int64{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("tar: %v", err)
		}
		found[h.Name] = h.Size
		if h.Name == "hello.txt" || h.Name == "seed/hello.txt" || h.Name == "./hello.txt" {
			body, _ := io.ReadAll(tr)
			if string(body) != "hello podfiles\n" {
				t.Errorf("tar hello.txt = %q", body)
			}
		}
	}
	if len(found) < 3 {
		t.Errorf("tar entries = %v", found)
	}
	t.Logf("tar entries: %v", found)
}
