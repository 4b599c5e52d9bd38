package podfiles

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"google.golang.org/grpc/status"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
)

// DownloadOptions for Download.
type DownloadOptions struct {
	Offset    uint64 // first byte (raw files only)
	Length    uint64 // bytes from Offset; 0 means to the end
	ChunkSize uint32 // bytes per message; 0 means the server's default (1 MiB)
	// Tar asks for a tar stream (a directory always comes as one); its length
	// is not known up front, so only the trailer's count and digest are checked.
	Tar bool
	// Progress, when set, is called after each chunk is written with the bytes written so far.
	Progress func(written uint64)
}

// DownloadResult describes what one Download call received.
type DownloadResult struct {
	Entry  *Entry
	Tar    bool   // the bytes are a tar stream
	Offset uint64 // of the first byte received
	Bytes  uint64 // bytes received and written
	// SHA256 of the bytes of this call, equal to the server's trailer. With an
	// Offset or a Length that is the digest of the range, not of the file.
	SHA256 []byte
}

// Download writes a file (or a directory as a tar stream) to w. It fails
// unless the bytes that arrived are as many as the header announced and the
// trailer counted, and their SHA-256 equals the trailer's: ErrShortDownload,
// *DigestMismatchError, an *Error with the server's code, or w's error.
// Bytes already written to w before a failure are not taken back.
func (c *Client) Download(ctx context.Context, ref Ref, path string, w io.Writer, opts DownloadOptions) (*DownloadResult, error) {
	format := v1.ArchiveFormat_ARCHIVE_FORMAT_UNSPECIFIED
	if opts.Tar {
		format = v1.ArchiveFormat_ARCHIVE_FORMAT_TAR
	}
	return c.download(ctx, &v1.DownloadRequest{
		Container: ref.proto(), Path: path, Offset: opts.Offset, Length: opts.Length, ChunkSize: opts.ChunkSize, Format: format,
	}, w, opts.Progress)
}

func (c *Client) download(ctx context.Context, req *v1.DownloadRequest, w io.Writer, progress func(uint64)) (*DownloadResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // on an early return this resets the stream
	stream, err := c.rpc.Download(ctx, req)
	if err != nil {
		return nil, toError(ctx, err)
	}
	res, err := receive(stream, req.Path, w, sha256.New(), progress, ctx.Err)
	return res, toError(ctx, err)
}

// responses is the receiving half of a Download stream.
type responses interface {
	Recv() (*v1.DownloadResponse, error)
}

// receive checks the message order (header, data, trailer, end), the byte
// counts and the digest while it copies the data to w; h hashes the data.
// done is checked before each write: grpc-go hands out messages it has
// already buffered (up to the 8 MiB window) after the context has ended.
func receive(s responses, path string, w io.Writer, h hash.Hash, progress func(uint64), done func() error) (*DownloadResult, error) {
	first, err := s.Recv()
	if err == io.EOF {
		return nil, protocolError("%s: the download ended before its header", path)
	}
	if err != nil {
		return nil, err
	}
	header := first.GetHeader()
	if header == nil {
		return nil, protocolError("%s: the download did not start with a header", path)
	}
	res := &DownloadResult{Entry: header.Entry, Offset: header.Offset, Tar: header.Format == v1.ArchiveFormat_ARCHIVE_FORMAT_TAR}
	announced, known := header.GetLength(), header.Length != nil
	for {
		msg, err := s.Recv()
		if err == io.EOF {
			want := res.Bytes
			if known {
				want = announced
			}
			return res, &shortError{path: path, got: res.Bytes, want: want, why: "the download ended without its trailer"}
		}
		if err != nil {
			return res, err
		}
		switch part := msg.Part.(type) {
		case *v1.DownloadResponse_Data:
			n := uint64(len(part.Data))
			if known && res.Bytes+n > announced {
				return res, protocolError("%s: more data than the %d bytes the header announced", path, announced)
			}
			if err := done(); err != nil {
				return res, status.FromContextError(err).Err()
			}
			h.Write(part.Data)
			if _, err := w.Write(part.Data); err != nil {
				return res, err
			}
			res.Bytes += n
			if progress != nil {
				progress(res.Bytes)
			}
		case *v1.DownloadResponse_Trailer:
			t := part.Trailer
			if known && res.Bytes != announced {
				return res, &shortError{path: path, got: res.Bytes, want: announced, why: "the trailer came before the announced length"}
			}
			if t.BytesSent != res.Bytes {
				if t.BytesSent > res.Bytes {
					return res, &shortError{path: path, got: res.Bytes, want: t.BytesSent, why: "the server sent more than arrived"}
				}
				return res, protocolError("%s: the trailer counts %d bytes, %d arrived", path, t.BytesSent, res.Bytes)
			}
			res.SHA256 = h.Sum(nil)
			if !bytes.Equal(res.SHA256, t.Sha256) {
				return res, &DigestMismatchError{Path: path, Got: res.SHA256, Want: t.Sha256}
			}
			// The call's status (OK, or an error the server sent after all) ends it.
			if _, err := s.Recv(); err != io.EOF {
				if err == nil {
					return res, protocolError("%s: a message after the trailer", path)
				}
				return res, err
			}
			return res, nil
		default:
			return res, protocolError("%s: a %T in the middle of a download", path, msg.Part)
		}
	}
}

// rangeDigest asks the server for the SHA-256 of [offset, offset+length) of a
// file: the server reads and sends the bytes, the client hashes and drops them.
func (c *Client) rangeDigest(ctx context.Context, ref Ref, path string, offset, length uint64) (*DownloadResult, error) {
	res, err := c.download(ctx, &v1.DownloadRequest{
		Container: ref.proto(), Path: path, Offset: offset, Length: length, ChunkSize: 4 << 20, Format: v1.ArchiveFormat_ARCHIVE_FORMAT_RAW,
	}, io.Discard, nil)
	if err != nil {
		return nil, err
	}
	if res.Bytes != length {
		return nil, &mismatchError{msg: fmt.Sprintf("%s: has %d bytes from %d, %d were expected", path, res.Bytes, offset, length)}
	}
	return res, nil
}
