package podfiles_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
	podfiles "github.com/podfiles/podfiles/sdk/go"
)

const mib = 1 << 20

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustNotExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Fatalf("%s exists (%v)", p, err)
	}
}

func TestDownloadToFileResumesAfterAnInterruption(t *testing.T) {
	c, ctx := dial(t), testContext(t)
	remote := dir(t, "dl-resume") + "/big.bin"
	content := randomBytes(t, 9*mib+123)
	writeFile(t, onDisk(remote), content)
	local := filepath.Join(t.TempDir(), "big.bin")

	// A real interruption: the caller's context ends after 3 MiB have been written.
	cut, cancel := context.WithCancel(ctx)
	_, err := c.DownloadToFile(cut, pod, remote, local, podfiles.DownloadFileOptions{ChunkSize: 256 << 10, Progress: func(n uint64) {
		if n >= 3*mib {
			cancel()
		}
	}})
	cancel()
	if !errors.Is(err, context.Canceled) || !errors.Is(err, podfiles.ErrCanceled) {
		t.Fatalf("want a cancelled download, got %T %v", err, err)
	}
	mustNotExist(t, local)
	partSize := len(readFile(t, local+".part"))
	if partSize < 3*mib || partSize >= len(content) {
		t.Fatalf("the part has %d bytes", partSize)
	}

	res, err := c.DownloadToFile(ctx, pod, remote, local, podfiles.DownloadFileOptions{Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedAt != uint64(partSize) || res.Size != uint64(len(content)) || !bytes.Equal(res.SHA256, sum(content)) {
		t.Fatalf("resumed at %d (part %d), size %d, sha %x", res.ResumedAt, partSize, res.Size, res.SHA256)
	}
	if !bytes.Equal(readFile(t, local), content) {
		t.Fatal("the resumed file differs from the remote one")
	}
	mustNotExist(t, local+".part")
}

func TestDownloadToFileResumeChecksThePartialFile(t *testing.T) {
	c, ctx := dial(t), testContext(t)
	remote := dir(t, "dl-check") + "/f.bin"
	content := randomBytes(t, 3*mib)
	writeFile(t, onDisk(remote), content)
	local := filepath.Join(t.TempDir(), "f.bin")

	damaged := bytes.Clone(content[:2*mib])
	damaged[100] ^= 1 // far before the resume point: only the server's digest of the prefix sees it

	cases := []struct {
		name    string
		part    []byte
		opts    podfiles.DownloadFileOptions
		resumed uint64
	}{
		{"intact prefix: kept", content[:2*mib], podfiles.DownloadFileOptions{Resume: true}, 2 * mib},
		{"damaged prefix: dropped, downloaded again", damaged, podfiles.DownloadFileOptions{Resume: true}, 0},
		{"part longer than the remote file: dropped", append(bytes.Clone(content), 'x'), podfiles.DownloadFileOptions{Resume: true}, 0},
		{"TrustPartial, intact: kept", content[:2*mib], podfiles.DownloadFileOptions{Resume: true, TrustPartial: true}, 2 * mib},
		{"TrustPartial, last bytes differ: dropped", append(bytes.Clone(content[:2*mib-1]), content[2*mib-1]^1), podfiles.DownloadFileOptions{Resume: true, TrustPartial: true}, 0},
		{"no Resume: a part is overwritten", content[:2*mib], podfiles.DownloadFileOptions{}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(local)
			writeFile(t, local+".part", tc.part)
			res, err := c.DownloadToFile(ctx, pod, remote, local, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.ResumedAt != tc.resumed {
				t.Fatalf("resumed at %d, want %d", res.ResumedAt, tc.resumed)
			}
			if !bytes.Equal(readFile(t, local), content) || !bytes.Equal(res.SHA256, sum(content)) {
				t.Fatal("the downloaded file differs from the remote one")
			}
		})
	}

	t.Run("the remote file was replaced since the part was written", func(t *testing.T) {
		writeFile(t, local+".part", content[:2*mib])
		changed := randomBytes(t, len(content))
		writeFile(t, onDisk(remote), changed)
		res, err := c.DownloadToFile(ctx, pod, remote, local, podfiles.DownloadFileOptions{Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.ResumedAt != 0 || !bytes.Equal(readFile(t, local), changed) {
			t.Fatalf("resumed at %d; content equal: %v", res.ResumedAt, bytes.Equal(readFile(t, local), changed))
		}
	})
}

func TestDownloadToFileKeepsModeAndMtime(t *testing.T) {
	c, ctx := dial(t), testContext(t)
	remote := dir(t, "dl-meta") + "/x.sh"
	writeFile(t, onDisk(remote), []byte("#!/bin/sh\n"))
	if err := os.Chmod(onDisk(remote), 0o751); err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), "x.sh")
	old := time.Date(2020, 2, 3, 4, 5, 6, 789_000_000, time.UTC) // the server reports milliseconds
	if err := os.Chtimes(onDisk(remote), old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DownloadToFile(ctx, pod, remote, local, podfiles.DownloadFileOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := stat(t, local); st.Mode().Perm() != 0o751 || !st.ModTime().Equal(old) {
		t.Fatalf("mode %v mtime %v; want 0751 and %v", st.Mode(), st.ModTime(), old)
	}
}

func stat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestUploadResumesAfterAnInterruption(t *testing.T) {
	c, ctx := dial(t), testContext(t)
	remote := dir(t, "up-resume") + "/big.bin"
	content := randomBytes(t, 5*mib+77)
	opts := podfiles.UploadOptions{Resume: true, SegmentSize: mib, SHA256: sum(content), Size: int64(len(content))}

	cut, cancel := context.WithCancel(ctx)
	interrupted := opts
	interrupted.Progress = func(n uint64) {
		if n >= 2*mib+mib/2 {
			cancel()
		}
	}
	_, err := c.Upload(cut, pod, remote, bytes.NewReader(content), interrupted)
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want a cancelled upload, got %T %v", err, err)
	}
	// Whole segments stay: the SDK resets the third call instead of
	// half-closing it, and the server truncates that segment away on its own
	// time, after the client has returned.
	waitForWriters(t, c, remote)
	kept := readFile(t, onDisk(remote))
	if len(kept) != 2*mib || !bytes.Equal(kept, content[:len(kept)]) {
		t.Fatalf("the remote file has %d bytes (prefix intact: %v), want 2 MiB", len(kept), bytes.Equal(kept, content[:len(kept)]))
	}

	// Resume with a reader that has no Len(): the SDK reads and checks the prefix, then appends.
	res, err := c.Upload(ctx, pod, remote, io.MultiReader(bytes.NewReader(content)), opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedAt != 2*mib || res.Bytes != uint64(len(content)-2*mib) || !bytes.Equal(res.SHA256, sum(content)) {
		t.Fatalf("resumed at %d, sent %d, sha %x", res.ResumedAt, res.Bytes, res.SHA256)
	}
	if !bytes.Equal(readFile(t, onDisk(remote)), content) {
		t.Fatal("the remote file differs from the content")
	}

	// Resuming a complete upload sends nothing.
	res, err = c.Upload(ctx, pod, remote, bytes.NewReader(content), opts)
	if err != nil || res.Bytes != 0 || res.ResumedAt != uint64(len(content)) {
		t.Fatalf("resume of a complete file: %+v %v", res, err)
	}
}

// waitForWriters returns once no upload holds remote: the server refuses a
// second writer of a file with ABORTED while the first (here: a reset call it
// is still undoing) holds it, so an empty APPEND succeeds only after that.
func waitForWriters(t *testing.T, c *podfiles.Client, remote string) {
	t.Helper()
	ctx := testContext(t)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		e, err := c.Stat(ctx, pod, remote, podfiles.StatOptions{})
		if err != nil {
			t.Fatal(err)
		}
		stream, err := c.FileService().Upload(ctx)
		if err == nil {
			err = stream.Send(&v1.UploadRequest{Part: &v1.UploadRequest_Header{Header: &v1.UploadHeader{
				Container: &v1.ContainerRef{Namespace: "local", Pod: "local", Container: "local"}, Path: remote,
				Options: &v1.UploadOptions{Overwrite: v1.OverwritePolicy_OVERWRITE_POLICY_APPEND, Offset: e.Size},
			}}})
		}
		if err == nil {
			_, err = stream.CloseAndRecv()
		}
		if err == nil {
			return
		}
		if code := status.Code(err); (code != codes.Aborted && code != codes.FailedPrecondition) || time.Now().After(deadline) {
			t.Fatalf("waiting for the server to finish with %s: %v", remote, err)
		}
	}
}

func TestUploadResumeRefusesAFileThatIsNotAPrefix(t *testing.T) {
	c, ctx := dial(t), testContext(t)
	remote := dir(t, "up-mismatch") + "/f.bin"
	content := randomBytes(t, 3*mib)
	other := bytes.Clone(content[:mib])
	other[10] ^= 1
	writeFile(t, onDisk(remote), other)

	_, err := c.Upload(ctx, pod, remote, bytes.NewReader(content), podfiles.UploadOptions{Resume: true})
	if !errors.Is(err, podfiles.ErrResumeMismatch) || !errors.Is(err, podfiles.ErrFailedPrecondition) {
		t.Fatalf("want ErrResumeMismatch, got %T %v", err, err)
	}
	if !bytes.Equal(readFile(t, onDisk(remote)), other) {
		t.Fatal("the remote file was changed")
	}

	writeFile(t, onDisk(remote), append(bytes.Clone(content), 1))
	_, err = c.Upload(ctx, pod, remote, bytes.NewReader(content), podfiles.UploadOptions{Resume: true})
	if !errors.Is(err, podfiles.ErrResumeMismatch) {
		t.Fatalf("a longer remote file: want ErrResumeMismatch, got %v", err)
	}

	// With Overwrite a reader that can seek back replaces the file; one that cannot, cannot.
	writeFile(t, onDisk(remote), other)
	_, err = c.Upload(ctx, pod, remote, io.MultiReader(bytes.NewReader(content)), podfiles.UploadOptions{Resume: true, Overwrite: true})
	if !errors.Is(err, podfiles.ErrResumeMismatch) || !bytes.Equal(readFile(t, onDisk(remote)), other) {
		t.Fatalf("Overwrite with a reader that cannot seek: want ErrResumeMismatch, got %v", err)
	}
	res, err := c.Upload(ctx, pod, remote, bytes.NewReader(content), podfiles.UploadOptions{Resume: true, Overwrite: true, SegmentSize: mib})
	if err != nil || res.ResumedAt != 0 || res.Bytes != uint64(len(content)) || !bytes.Equal(readFile(t, onDisk(remote)), content) {
		t.Fatalf("Overwrite with a bytes.Reader: %+v %v", res, err)
	}
}

func TestUploadFileResumesFromARemotePrefix(t *testing.T) {
	c, ctx := dial(t), testContext(t)
	remote := dir(t, "up-file") + "/f.bin"
	content := randomBytes(t, 3*mib+5)
	local := filepath.Join(t.TempDir(), "f.bin")
	writeFile(t, local, content)
	writeFile(t, onDisk(remote), content[:mib+1])

	res, err := c.UploadFile(ctx, pod, local, remote, podfiles.UploadOptions{Resume: true, Mode: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResumedAt != mib+1 || !bytes.Equal(readFile(t, onDisk(remote)), content) {
		t.Fatalf("resumed at %d", res.ResumedAt)
	}
	if m := stat(t, onDisk(remote)).Mode().Perm(); m != 0o640 {
		t.Fatalf("mode %v", m)
	}
}

var errBoom = errors.New("boom: the disk under the reader failed")

// failingReader gives n random bytes, then errBoom.
type failingReader struct {
	data []byte
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, errBoom
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestUploadLeavesNothingBehindOnFailure(t *testing.T) {
	c, ctx := dial(t), testContext(t)
	base := dir(t, "up-atomic")
	old := []byte("the old content\n")
	writeFile(t, onDisk(base+"/existing"), old)
	content := randomBytes(t, 4*mib)

	t.Run("the reader fails after 3 MiB", func(t *testing.T) {
		_, err := c.Upload(ctx, pod, base+"/new1", &failingReader{data: content[:3*mib]}, podfiles.UploadOptions{})
		if !errors.Is(err, errBoom) {
			t.Fatalf("want the reader's error, got %T %v", err, err)
		}
		_, err = c.Upload(ctx, pod, base+"/existing", &failingReader{data: content[:3*mib]}, podfiles.UploadOptions{Overwrite: true})
		if !errors.Is(err, errBoom) {
			t.Fatalf("want the reader's error, got %T %v", err, err)
		}
	})
	t.Run("the context is cancelled after 2 MiB", func(t *testing.T) {
		cut, cancel := context.WithCancel(ctx)
		defer cancel()
		_, err := c.Upload(cut, pod, base+"/new2", io.MultiReader(bytes.NewReader(content)), podfiles.UploadOptions{Progress: func(n uint64) {
			if n >= 2*mib {
				cancel()
			}
		}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %T %v", err, err)
		}
	})
	t.Run("a wrong SHA256", func(t *testing.T) {
		_, err := c.Upload(ctx, pod, base+"/new3", bytes.NewReader(content), podfiles.UploadOptions{SHA256: sum([]byte("other"))})
		if !errors.Is(err, podfiles.ErrDataLoss) {
			t.Fatalf("want DATA_LOSS, got %T %v", err, err)
		}
	})
	t.Run("a Size larger than the data", func(t *testing.T) {
		_, err := c.Upload(ctx, pod, base+"/new4", io.MultiReader(bytes.NewReader(content)), podfiles.UploadOptions{Size: int64(len(content)) + 1})
		if !errors.Is(err, podfiles.ErrInvalidArgument) {
			t.Fatalf("want INVALID_ARGUMENT, got %T %v", err, err)
		}
	})
	if !bytes.Equal(readFile(t, onDisk(base+"/existing")), old) {
		t.Fatal("a failed overwrite changed the existing file")
	}
	// Only the old file stays. The server drops a reset upload's temp file
	// on its own time, after the client has returned: allow it 5 s.
	var entries []os.DirEntry
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var err error
		if entries, err = os.ReadDir(onDisk(base)); err != nil {
			t.Fatal(err)
		}
		if len(entries) == 1 || time.Now().After(deadline) {
			break
		}
	}
	if len(entries) != 1 || entries[0].Name() != "existing" {
		t.Fatalf("leftovers in the directory: %v", entries)
	}
}

func TestUploadOfAPlainReader(t *testing.T) {
	c, ctx := dial(t), testContext(t)
	base := dir(t, "up-plain")
	for _, n := range []int{0, 1, mib, 3*mib + 1} {
		content := randomBytes(t, n)
		// io.MultiReader hides Len(): neither size nor digest is known up front.
		res, err := c.Upload(ctx, pod, base+"/f", io.MultiReader(bytes.NewReader(content)), podfiles.UploadOptions{Overwrite: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Bytes != uint64(n) || !bytes.Equal(res.SHA256, sum(content)) || !bytes.Equal(readFile(t, onDisk(base+"/f")), content) {
			t.Fatalf("%d bytes: sent %d, sha %x", n, res.Bytes, res.SHA256)
		}
	}
}
