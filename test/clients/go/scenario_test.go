package clients

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
)

var local = &v1.ContainerRef{Namespace: "local", Pod: "local", Container: "local"}

// scenario runs every call once over one client. It works under /NAME and
// leaves /NAME/final.bin (mode 0640), /NAME/keep.txt and /NAME/empty behind,
// printing one RESULT line that the vitest spec checks against the disk.
func scenario(ctx context.Context, t *testing.T, api fileAPI, name, root string) {
	dir := "/" + name
	seed, err := os.ReadFile(filepath.Join(root, "seed", "random.bin"))
	if err != nil {
		t.Fatal(err)
	}

	// ListFiles
	entries, err := api.List(ctx, &v1.ListFilesRequest{Container: local, Path: "/seed", PageSize: 2})
	must(t, "ListFiles", err)
	var names []string
	for _, e := range entries {
		names = append(names, e.GetName())
		if e.GetName() == "random.bin" && (e.GetSize() != uint64(len(seed)) || e.GetType() != v1.FileType_FILE_TYPE_REGULAR) {
			t.Errorf("ListFiles random.bin: %v", e)
		}
		if e.GetName() == "sub" && e.GetType() != v1.FileType_FILE_TYPE_DIRECTORY {
			t.Errorf("ListFiles sub: %v", e)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"hello.txt", "random.bin", "sub"}) {
		t.Errorf("ListFiles /seed names = %v", names)
	}

	// Stat
	st, err := api.Stat(ctx, &v1.StatRequest{Container: local, Path: "/seed/random.bin"})
	must(t, "Stat", err)
	if e := st.GetEntry(); e.GetPath() != "/seed/random.bin" || e.GetSize() != uint64(len(seed)) || e.GetModeText()[0] != '-' || e.GetModifyTime() == nil {
		t.Errorf("Stat = %v", e)
	}

	// Download, in 256 KiB chunks
	msgs, err := api.Download(ctx, &v1.DownloadRequest{Container: local, Path: "/seed/random.bin", ChunkSize: 256 << 10})
	must(t, "Download", err)
	checkDownload(t, msgs, seed)

	// MakeDirectory: one level, then with parents
	mk, err := api.MakeDirectory(ctx, &v1.MakeDirectoryRequest{Container: local, Path: dir})
	must(t, "MakeDirectory", err)
	if mk.GetEntry().GetType() != v1.FileType_FILE_TYPE_DIRECTORY {
		t.Errorf("MakeDirectory = %v", mk.GetEntry())
	}
	_, err = api.MakeDirectory(ctx, &v1.MakeDirectoryRequest{Container: local, Path: dir + "/a/b", Parents: true})
	must(t, "MakeDirectory parents", err)

	// Upload 2.5 MiB + 1 in 512 KiB chunks with expected size and digest
	content := make([]byte, 5<<19+1)
	rand.Read(content)
	sum := sha256.Sum256(content)
	opts := &v1.UploadOptions{Mode: proto.Uint32(0o640), ExpectedSize: proto.Uint64(uint64(len(content))), ExpectedSha256: sum[:]}
	up, err := api.Upload(ctx, uploadMsgs(dir+"/a/b/up.bin", opts, content, 512<<10))
	must(t, "Upload", err)
	if !bytes.Equal(up.GetSha256(), sum[:]) || up.GetBytesReceived() != uint64(len(content)) || up.GetEntry().GetSize() != uint64(len(content)) {
		t.Errorf("Upload = %v", up)
	}
	_, err = api.Upload(ctx, uploadMsgs(dir+"/keep.txt", nil, []byte("keep\n"), 64))
	must(t, "Upload keep.txt", err)
	_, err = api.Upload(ctx, uploadMsgs(dir+"/empty", nil, nil, 64))
	must(t, "Upload empty", err)

	// The uploaded file reads back the same
	back, err := api.Download(ctx, &v1.DownloadRequest{Container: local, Path: dir + "/a/b/up.bin"})
	must(t, "Download uploaded", err)
	checkDownload(t, back, content)

	// Rename, then Remove (refused non-recursive, then recursive)
	rn, err := api.Rename(ctx, &v1.RenameRequest{Container: local, Path: dir + "/a/b/up.bin", NewPath: dir + "/final.bin"})
	must(t, "Rename", err)
	if rn.GetEntry().GetPath() != dir+"/final.bin" {
		t.Errorf("Rename = %v", rn.GetEntry())
	}
	_, err = api.Remove(ctx, &v1.RemoveRequest{Container: local, Path: dir + "/a"})
	expectCode(t, api, "Remove non-empty", err, codes.FailedPrecondition)
	_, err = api.Remove(ctx, &v1.RemoveRequest{Container: local, Path: dir + "/a", Recursive: true})
	must(t, "Remove recursive", err)

	// Failures carry the right status
	_, err = api.Stat(ctx, &v1.StatRequest{Container: local, Path: dir + "/a"})
	expectCode(t, api, "Stat removed", err, codes.NotFound)
	_, err = api.Download(ctx, &v1.DownloadRequest{Container: local, Path: dir + "/missing"})
	expectCode(t, api, "Download missing", err, codes.NotFound)
	_, err = api.List(ctx, &v1.ListFilesRequest{Container: local, Path: dir + "/missing"})
	expectCode(t, api, "ListFiles missing", err, codes.NotFound)
	// A large body the server refuses early: the client must still see the
	// status, and the next call on the same HTTP/1.1 keep-alive connection must
	// not stall behind the unread rest of that body.
	_, err = api.Upload(ctx, uploadMsgs(dir+"/keep.txt", nil, content, 512<<10))
	expectCode(t, api, "Upload without overwrite", err, codes.AlreadyExists)
	quick, cancelQuick := context.WithTimeout(ctx, 10*time.Second)
	_, err = api.Upload(quick, uploadMsgs(dir+"/short.bin", &v1.UploadOptions{ExpectedSize: proto.Uint64(10)}, []byte("nine byte"), 64))
	cancelQuick()
	expectCode(t, api, "Upload size mismatch (next call on the connection)", err, codes.InvalidArgument)
	_, err = api.Rename(ctx, &v1.RenameRequest{Container: local, Path: dir + "/final.bin", NewPath: dir + "/keep.txt"})
	expectCode(t, api, "Rename without overwrite", err, codes.AlreadyExists)
	_, err = api.Stat(ctx, &v1.StatRequest{Container: local, Path: dir + "/bad\x00name"})
	expectCode(t, api, "Stat NUL byte", err, codes.InvalidArgument)
	bad := sha256.Sum256([]byte("something else"))
	_, err = api.Upload(ctx, uploadMsgs(dir+"/corrupt.bin", &v1.UploadOptions{ExpectedSha256: bad[:]}, []byte("data"), 64))
	expectCode(t, api, "Upload digest mismatch", err, codes.DataLoss)
	_, err = api.Stat(ctx, &v1.StatRequest{Container: local, Path: dir + "/corrupt.bin"})
	expectCode(t, api, "Stat after failed upload", err, codes.NotFound)
	_, err = api.Stat(ctx, &v1.StatRequest{Container: local, Path: dir + "/short.bin"})
	expectCode(t, api, "Stat after short upload", err, codes.NotFound)

	roundTrips(ctx, t, api, dir)
	downloadTar(ctx, t, api)

	if !t.Failed() {
		fmt.Printf("RESULT %s %s/final.bin %d %s\n", name, dir, len(content), hex.EncodeToString(sum[:]))
	}
}

func uploadMsgs(path string, opts *v1.UploadOptions, data []byte, chunk int) []*v1.UploadRequest {
	msgs := []*v1.UploadRequest{{Part: &v1.UploadRequest_Header{Header: &v1.UploadHeader{Container: local, Path: path, Options: opts}}}}
	for chunk := range slices.Chunk(data, chunk) {
		msgs = append(msgs, &v1.UploadRequest{Part: &v1.UploadRequest_Data{Data: chunk}})
	}
	return msgs
}

// checkDownload wants a header, data and a trailer whose digest matches want.
func checkDownload(t *testing.T, msgs []*v1.DownloadResponse, want []byte) {
	t.Helper()
	if len(msgs) < 2 {
		t.Fatalf("Download: %d messages", len(msgs))
	}
	h, tr := msgs[0].GetHeader(), msgs[len(msgs)-1].GetTrailer()
	if h == nil || tr == nil {
		t.Fatalf("Download: first is not a header or last is not a trailer")
	}
	if h.GetLength() != uint64(len(want)) || h.GetOffset() != 0 || h.GetFormat() != v1.ArchiveFormat_ARCHIVE_FORMAT_RAW {
		t.Errorf("Download header = %v", h)
	}
	var data []byte
	for _, m := range msgs[1 : len(msgs)-1] {
		d, ok := m.GetPart().(*v1.DownloadResponse_Data)
		if !ok {
			t.Fatalf("Download: unexpected %T in the middle", m.GetPart())
		}
		data = append(data, d.Data...)
	}
	sum := sha256.Sum256(want)
	got := sha256.Sum256(data)
	if got != sum || !bytes.Equal(tr.GetSha256(), sum[:]) || tr.GetBytesSent() != uint64(len(want)) {
		t.Errorf("Download: data sha256 %x, trailer %x (%d bytes), want %x (%d bytes)", got, tr.GetSha256(), tr.GetBytesSent(), sum, len(want))
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func expectCode(t *testing.T, api fileAPI, what string, err error, want codes.Code) {
	t.Helper()
	if got := api.Code(err); got != want {
		t.Errorf("%s: code %v (%v), want %v", what, got, err, want)
	}
}
