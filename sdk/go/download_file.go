package podfiles

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
)

// ResumeOverlap is how many bytes before the resume point DownloadToFile
// re-reads and compares with TrustPartial (as `podfiles get --resume` does).
const ResumeOverlap = 64 << 10

// DownloadFileOptions for DownloadToFile.
type DownloadFileOptions struct {
	// Resume continues LOCAL.part from its size. The trailer's digest covers
	// only the bytes of one call (the range), so the partial file's bytes are
	// checked separately: the server reads them again and sends their SHA-256
	// (it costs their transfer, not their disk writes), unless TrustPartial.
	// A partial file that does not match is dropped and the download restarts.
	Resume bool
	// TrustPartial (with Resume) checks only the ResumeOverlap bytes before
	// the resume point: cheap, and catches a remote file that was replaced,
	// not a partial file damaged further back.
	TrustPartial bool
	ChunkSize    uint32
	// Progress, when set, is called after each chunk with the bytes in the file so far.
	Progress func(written uint64)
}

// FileResult describes a file DownloadToFile wrote.
type FileResult struct {
	Entry     *Entry
	Size      uint64
	ResumedAt uint64 // bytes of LOCAL.part that were kept; 0 for a whole download
	SHA256    []byte // of the whole file, every byte checked against the server
}

// DownloadToFile downloads a regular file into LOCAL.part, checks it, gives it
// the remote mode bits and mtime, fsyncs it and renames it onto LOCAL. On a
// failure LOCAL is untouched and LOCAL.part is kept for Resume (removed when
// its content is known to be wrong: a digest mismatch).
func (c *Client) DownloadToFile(ctx context.Context, ref Ref, remote, local string, opts DownloadFileOptions) (*FileResult, error) {
	res, err := c.downloadToFile(ctx, ref, remote, local, opts)
	if opts.Resume && errors.Is(err, ErrResumeMismatch) {
		opts.Resume = false
		return c.downloadToFile(ctx, ref, remote, local, opts)
	}
	return res, err
}

func (c *Client) downloadToFile(ctx context.Context, ref Ref, remote, local string, opts DownloadFileOptions) (*FileResult, error) {
	part := local + ".part"
	whole := sha256.New()
	var offset uint64
	var before *Entry // the remote entry when the prefix was checked
	if opts.Resume {
		if st, err := os.Stat(part); err == nil && st.Mode().IsRegular() {
			offset = uint64(st.Size())
		}
	}
	var overlap []byte
	if offset > 0 {
		var err error
		if overlap, err = hashPrefix(part, offset, whole, opts.TrustPartial); err != nil {
			return nil, err
		}
		if !opts.TrustPartial {
			checked, err := c.rangeDigest(ctx, ref, remote, 0, offset)
			if errors.Is(err, ErrOutOfRange) {
				return nil, &mismatchError{msg: fmt.Sprintf("%s: %s is longer than the remote file", remote, part)}
			}
			if err != nil {
				return nil, err
			}
			if local := whole.Sum(nil); !bytes.Equal(local, checked.SHA256) {
				return nil, &mismatchError{msg: fmt.Sprintf("%s: the first %d bytes differ from %s", remote, offset, part)}
			}
			before = checked.Entry
		}
	}

	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close() // after a successful Close below this is a no-op error
	if err := f.Truncate(int64(offset)); err != nil {
		return nil, err
	}
	if _, err := f.Seek(int64(offset), io.SeekStart); err != nil {
		return nil, err
	}
	var w io.Writer = io.MultiWriter(f, whole)
	start := offset
	if overlap != nil {
		start -= uint64(len(overlap))
		w = &overlapWriter{want: overlap, next: w, path: remote}
	}
	var progress func(uint64)
	if opts.Progress != nil {
		progress = func(n uint64) {
			if start+n > offset {
				opts.Progress(start + n)
			}
		}
	}
	res, err := c.download(ctx, &v1.DownloadRequest{
		Container: ref.proto(), Path: remote, Offset: start, ChunkSize: opts.ChunkSize, Format: v1.ArchiveFormat_ARCHIVE_FORMAT_RAW,
	}, w, progress)
	if err != nil {
		var digest *DigestMismatchError
		if errors.As(err, &digest) {
			f.Close()
			os.Remove(part)
		}
		if offset > 0 && errors.Is(err, ErrOutOfRange) {
			return nil, &mismatchError{msg: fmt.Sprintf("%s: %s is longer than the remote file", remote, part)}
		}
		return nil, err
	}
	entry := res.Entry
	if before != nil && (before.Size != entry.Size || !before.ModifyTime.AsTime().Equal(entry.ModifyTime.AsTime())) {
		return nil, &mismatchError{msg: fmt.Sprintf("%s changed while it was resumed", remote)}
	}
	size := start + res.Bytes
	if size != entry.Size {
		return nil, &shortError{path: remote, got: size, want: entry.Size, why: "the file on disk is not as long as the remote file"}
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Chmod(part, os.FileMode(entry.Mode).Perm()); err != nil {
		return nil, err
	}
	if entry.ModifyTime != nil {
		t := entry.ModifyTime.AsTime()
		if err := os.Chtimes(part, t, t); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(part, local); err != nil {
		return nil, err
	}
	return &FileResult{Entry: entry, Size: size, ResumedAt: offset, SHA256: whole.Sum(nil)}, nil
}

// hashPrefix hashes the first n bytes of the partial file into h; with tail it
// also returns the last ResumeOverlap of them.
func hashPrefix(part string, n uint64, h hash.Hash, tail bool) ([]byte, error) {
	f, err := os.Open(part)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := io.CopyN(h, f, int64(n)); err != nil {
		return nil, err
	}
	if !tail {
		return nil, nil
	}
	buf := make([]byte, min(n, ResumeOverlap))
	_, err = f.ReadAt(buf, int64(n)-int64(len(buf)))
	return buf, err
}

// overlapWriter compares the first len(want) bytes with want, then passes the rest on.
type overlapWriter struct {
	want []byte
	next io.Writer
	path string
}

func (o *overlapWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(o.want) > 0 {
		k := min(len(o.want), len(p))
		if !bytes.Equal(o.want[:k], p[:k]) {
			return 0, &mismatchError{msg: fmt.Sprintf("%s: changed since the partial file was written", o.path)}
		}
		o.want, p = o.want[k:], p[k:]
	}
	if len(p) > 0 {
		if _, err := o.next.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}
