package podfiles

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
)

// UploadChunk is the data per message: what the server's own clients send,
// and 1/16 of MaxMessageSize.
const UploadChunk = 1 << 20

// DefaultSegment is the bytes per call of a resumable upload (see UploadOptions.Resume).
const DefaultSegment = 64 << 20

// UploadOptions for Upload and UploadFile.
type UploadOptions struct {
	// Size is the expected byte count, sent in the header: the server refuses
	// (and writes nothing) unless exactly this many bytes arrive. 0 means
	// unknown; Upload then takes it from r when r knows it (Len(), a regular
	// *os.File).
	Size int64
	// SHA256 (32 bytes), when known up front, goes in the header too. Without
	// it each call hashes what it sends and sends the digest (and the size, if
	// the header had none) in the UploadTrailer, its last message: the server
	// commits nothing unless the bytes match either way, and r is read once.
	// The response's digest is compared too (*DigestMismatchError with
	// Committed: a server that ignored the expectations).
	SHA256      []byte
	Mode        os.FileMode // permission bits; 0 means 0644, or the replaced file's mode
	Overwrite   bool        // replace an existing file (else ALREADY_EXISTS)
	MakeParents bool        // create missing parent directories
	// Resume continues a file that already exists remotely and is a prefix of
	// this content: the SDK reads its size, checks its SHA-256 (the server
	// reads and sends those bytes back), skips that much of r and appends the
	// rest (OVERWRITE_POLICY_APPEND at that offset) in calls of SegmentSize
	// bytes. An upload that breaks keeps its whole segments, so the next
	// Resume continues from there; the file grows in place (readers may see
	// it partial) instead of appearing at once. A remote file that is not a
	// prefix fails with ErrResumeMismatch and is left alone, unless Overwrite
	// is set and r is an io.Seeker: then it is replaced from the start.
	// Right after a cancelled upload the server may still be undoing it:
	// Resume then fails with ABORTED (another writer holds the file) or
	// ErrResumeMismatch (the file shrank under the check); retry a moment later.
	Resume      bool
	SegmentSize int64 // with Resume; 0 means DefaultSegment
	// Progress, when set, is called after each chunk with the bytes the remote file has so far.
	Progress func(sent uint64)
}

// UploadResult describes a finished upload.
type UploadResult struct {
	Entry     *Entry
	Bytes     uint64 // sent by this Upload
	ResumedAt uint64 // bytes that were already there (Resume)
	SHA256    []byte // of the whole content
}

// Upload writes r to path in chunks of UploadChunk bytes. Without Resume the
// file appears atomically or not at all: an error from r, a cancelled ctx or
// a wrong size or digest leaves nothing behind (an existing file stays as it was).
func (c *Client) Upload(ctx context.Context, ref Ref, path string, r io.Reader, opts UploadOptions) (*UploadResult, error) {
	if opts.SHA256 != nil && len(opts.SHA256) != sha256.Size {
		return nil, &Error{Code: codes.InvalidArgument, Message: fmt.Sprintf("%s: UploadOptions.SHA256 must be %d bytes, got %d", path, sha256.Size, len(opts.SHA256))}
	}
	size := int64(-1)
	if opts.Size > 0 {
		size = opts.Size
	} else if n, ok := readerSize(r); ok {
		size = n
	}
	if opts.Resume {
		start := int64(-1)
		seeker, canSeek := r.(io.Seeker)
		if canSeek && opts.Overwrite {
			start, _ = seeker.Seek(0, io.SeekCurrent)
		}
		res, err := c.uploadResume(ctx, ref, path, r, size, opts, false)
		if errors.Is(err, ErrResumeMismatch) && start >= 0 {
			// Overwrite: the remote file is not a prefix, so replace it from the start.
			if _, serr := seeker.Seek(start, io.SeekStart); serr != nil {
				return nil, err
			}
			return c.uploadResume(ctx, ref, path, r, size, opts, true)
		}
		return res, err
	}
	hdr := header(ref, path, opts)
	if size >= 0 {
		hdr.Options.ExpectedSize = ptr(uint64(size))
	}
	hdr.Options.ExpectedSha256 = opts.SHA256
	call, err := c.uploadCall(ctx, hdr, r, -1, make([]byte, UploadChunk), nil, progressFrom(0, opts.Progress))
	if err != nil {
		return nil, err
	}
	return &UploadResult{Entry: call.resp.Entry, Bytes: call.sent, SHA256: call.resp.Sha256}, nil
}

// UploadFile uploads a local regular file with its size in the header and its
// SHA-256 (computed while sending) in the trailer, so the server commits only
// the exact bytes; the file is read once.
func (c *Client) UploadFile(ctx context.Context, ref Ref, local, remote string, opts UploadOptions) (*UploadResult, error) {
	f, err := os.Open(local)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("podfiles: %s: not a regular file", local)
	}
	opts.Size = st.Size()
	return c.Upload(ctx, ref, remote, f, opts)
}

// uploadResume is Upload with Resume; replace ignores the remote file (the
// first call overwrites it).
func (c *Client) uploadResume(ctx context.Context, ref Ref, path string, r io.Reader, size int64, opts UploadOptions, replace bool) (*UploadResult, error) {
	whole := sha256.New()
	var have uint64
	entry, err := c.Stat(ctx, ref, path, StatOptions{})
	exists := err == nil
	switch {
	case replace && (exists || errors.Is(err, ErrNotFound)):
		exists = false
	case exists && entry.Type != v1.FileType_FILE_TYPE_REGULAR:
		return nil, &mismatchError{msg: fmt.Sprintf("%s: not a regular file, nothing to resume", path)}
	case exists:
		have = entry.Size
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	if size >= 0 && have > uint64(size) {
		return nil, &mismatchError{msg: fmt.Sprintf("%s: has %d bytes, more than the %d to upload", path, have, size)}
	}
	if have > 0 {
		if _, err := io.CopyN(whole, r, int64(have)); err == io.EOF {
			return nil, &mismatchError{msg: fmt.Sprintf("%s: has %d bytes, more than the reader gave", path, have)}
		} else if err != nil {
			return nil, err
		}
		checked, err := c.rangeDigest(ctx, ref, path, 0, have)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(checked.SHA256, whole.Sum(nil)) {
			return nil, &mismatchError{msg: fmt.Sprintf("%s: its first %d bytes differ from the content to upload", path, have)}
		}
	}

	segment := opts.SegmentSize
	if segment <= 0 {
		segment = DefaultSegment
	}
	src := bufio.NewReaderSize(r, UploadChunk)
	buf := make([]byte, UploadChunk)
	pos := have
	for first := true; ; first = false {
		creates := first && !exists
		if !creates { // no empty call once the data has ended
			if _, err := src.Peek(1); err == io.EOF {
				break
			} else if err != nil {
				return nil, err
			}
		}
		hdr := header(ref, path, opts)
		if !creates {
			hdr.Options.Overwrite = v1.OverwritePolicy_OVERWRITE_POLICY_APPEND
			hdr.Options.Offset = pos
			hdr.Options.MakeParents = false
		}
		if size >= 0 {
			hdr.Options.ExpectedSize = ptr(min(uint64(segment), uint64(size)-pos))
			if creates && size <= segment {
				hdr.Options.ExpectedSha256 = opts.SHA256 // one call: the whole content's digest applies
			}
		}
		call, err := c.uploadCall(ctx, hdr, src, segment, buf, whole, progressFrom(pos, opts.Progress))
		if err != nil {
			return nil, err
		}
		pos += call.sent
		entry = call.resp.Entry
		if call.eof {
			break
		}
	}
	sum := whole.Sum(nil)
	if size >= 0 && pos != uint64(size) {
		return nil, &Error{Code: codes.InvalidArgument, Message: fmt.Sprintf("%s: the reader ended after %d bytes, %d were expected", path, pos, size)}
	}
	if opts.SHA256 != nil && !bytes.Equal(sum, opts.SHA256) {
		return nil, &DigestMismatchError{Path: path, Got: sum, Want: opts.SHA256, Committed: true}
	}
	return &UploadResult{Entry: entry, Bytes: pos - have, ResumedAt: have, SHA256: sum}, nil
}

type callResult struct {
	resp *v1.UploadResponse
	sent uint64
	eof  bool // r ended
}

// uploadCall sends one Upload call: the header, then up to limit bytes of r
// (all of it when limit < 0). An error from r, or ctx, resets the stream
// instead of half-closing it, so the server commits nothing. With the
// header's expected_sha256 the server checks the digest (and the response
// must repeat it); without it the call's bytes are hashed as they are sent and
// the digest goes in the trailer (with the count, when the header had no
// expected_size), checked by the server before it commits and compared with
// the response here. whole, when set, hashes every byte too.
func (c *Client) uploadCall(ctx context.Context, hdr *v1.UploadHeader, r io.Reader, limit int64, buf []byte, whole hash.Hash, progress func(uint64)) (*callResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rpc.Upload(ctx)
	if err != nil {
		return nil, toError(ctx, err)
	}
	res := &callResult{}
	want := hdr.Options.ExpectedSha256
	var h hash.Hash
	if want == nil {
		h = sha256.New()
	}
	err = stream.Send(&v1.UploadRequest{Part: &v1.UploadRequest_Header{Header: hdr}})
	for err == nil && (limit < 0 || int64(res.sent) < limit) {
		n := len(buf)
		if limit >= 0 {
			n = int(min(int64(n), limit-int64(res.sent)))
		}
		n, rerr := io.ReadFull(r, buf[:n])
		if n > 0 {
			if cerr := ctx.Err(); cerr != nil {
				return nil, toError(ctx, status.FromContextError(cerr).Err())
			}
			if h != nil {
				h.Write(buf[:n])
			}
			if whole != nil {
				whole.Write(buf[:n])
			}
			if err = stream.Send(&v1.UploadRequest{Part: &v1.UploadRequest_Data{Data: buf[:n]}}); err != nil {
				break
			}
			res.sent += uint64(n)
			if progress != nil {
				progress(res.sent)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			res.eof = true
			break
		}
		if rerr != nil {
			return nil, rerr // the deferred cancel resets the stream
		}
	}
	if err == nil && h != nil {
		trailer := &v1.UploadTrailer{ExpectedDigest: h.Sum(nil)}
		if hdr.Options.ExpectedSize == nil {
			trailer.ExpectedSize = ptr(res.sent)
		}
		err = stream.Send(&v1.UploadRequest{Part: &v1.UploadRequest_Trailer{Trailer: trailer}})
	}
	// io.EOF from Send: the server ended the call; CloseAndRecv has its status.
	if err != nil && err != io.EOF {
		return nil, toError(ctx, err)
	}
	// A half-close commits what was sent, so a context that has ended by now
	// resets the stream instead (the deferred cancel).
	if cerr := ctx.Err(); cerr != nil {
		return nil, toError(ctx, status.FromContextError(cerr).Err())
	}
	res.resp, err = stream.CloseAndRecv()
	if err != nil {
		return nil, toError(ctx, err)
	}
	if h != nil {
		want = h.Sum(nil)
	}
	if res.resp.BytesReceived != res.sent || !bytes.Equal(res.resp.Sha256, want) {
		return nil, &DigestMismatchError{Path: hdr.Path, Got: res.resp.Sha256, Want: want, Committed: true}
	}
	return res, nil
}

func header(ref Ref, path string, opts UploadOptions) *v1.UploadHeader {
	o := &v1.UploadOptions{MakeParents: opts.MakeParents, Overwrite: v1.OverwritePolicy_OVERWRITE_POLICY_FAIL}
	if opts.Overwrite {
		o.Overwrite = v1.OverwritePolicy_OVERWRITE_POLICY_OVERWRITE
	}
	if opts.Mode != 0 {
		o.Mode = ptr(uint32(opts.Mode.Perm()))
	}
	return &v1.UploadHeader{Container: ref.proto(), Path: path, Options: o}
}

// readerSize is what r knows of its remaining length.
func readerSize(r io.Reader) (int64, bool) {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len()), true
	case *os.File:
		st, err := v.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return 0, false
		}
		pos, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return 0, false
		}
		return st.Size() - pos, true
	}
	return 0, false
}

func progressFrom(base uint64, f func(uint64)) func(uint64) {
	if f == nil {
		return nil
	}
	return func(n uint64) { f(base + n) }
}

func ptr[T any](v T) *T { return &v }
