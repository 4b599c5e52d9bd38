// Package podfiles is a small Go client for podfiles servers, beside the
// generated code (github.com/podfiles/podfiles/gen/go): transfers that check
// their length and SHA-256, resume, and typed errors carrying the gRPC code.
package podfiles

import (
	"context"
	"io"
	"iter"
	"os"

	"google.golang.org/grpc"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
)

// Entry is a file's metadata as the server returns it.
type Entry = v1.FileEntry

// Ref names a container the way kubectl does; an empty Container is the
// pod's default one. `podfiles serve` answers to local/local/local.
type Ref struct {
	Namespace, Pod, Container string
}

func (r Ref) proto() *v1.ContainerRef {
	return &v1.ContainerRef{Namespace: r.Namespace, Pod: r.Pod, Container: r.Container}
}

// Client calls one podfiles server. It is safe for concurrent use.
type Client struct {
	rpc  v1.FileServiceClient
	conn *grpc.ClientConn // set by Dial, closed by Close
}

// NewClient wraps a connection made elsewhere (use DialOptions for its windows and limits).
func NewClient(cc grpc.ClientConnInterface) *Client {
	return &Client{rpc: v1.NewFileServiceClient(cc)}
}

// FileService is the generated client, for calls this package does not wrap.
func (c *Client) FileService() v1.FileServiceClient { return c.rpc }

// Close closes the connection Dial made (a no-op for NewClient).
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// ListOptions for List.
type ListOptions struct {
	Hidden    bool   // include names starting with a dot
	Recursive bool   // depth first; symlinks to directories are not followed
	MaxDepth  uint32 // with Recursive: levels below path; 0 means no limit
	PageSize  uint32 // entries per message; 0 means the server's default (1000)
}

// List yields the entries of a directory as they stream in (a directory of
// 100,000 entries is never held whole). Stopping the loop cancels the call;
// an error is yielded once, last.
func (c *Client) List(ctx context.Context, ref Ref, path string, opts ListOptions) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.rpc.ListFiles(ctx, &v1.ListFilesRequest{
			Container: ref.proto(), Path: path, PageSize: opts.PageSize,
			IncludeHidden: opts.Hidden, Recursive: opts.Recursive, MaxDepth: opts.MaxDepth,
		})
		if err != nil {
			yield(nil, toError(ctx, err))
			return
		}
		for {
			batch, err := stream.Recv()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(nil, toError(ctx, err))
				return
			}
			for _, e := range batch.Entries {
				if !yield(e, nil) {
					return
				}
			}
		}
	}
}

// StatOptions for Stat.
type StatOptions struct {
	FollowSymlinks bool // follow a symlink in the final component (inside the container)
}

// Stat returns one entry.
func (c *Client) Stat(ctx context.Context, ref Ref, path string, opts StatOptions) (*Entry, error) {
	res, err := c.rpc.Stat(ctx, &v1.StatRequest{Container: ref.proto(), Path: path, FollowSymlinks: opts.FollowSymlinks})
	if err != nil {
		return nil, toError(ctx, err)
	}
	return res.Entry, nil
}

// MkdirOptions for Mkdir.
type MkdirOptions struct {
	Parents bool        // create missing parents; an existing directory is then not an error
	Mode    os.FileMode // permission bits; 0 means 0755
}

// Mkdir creates a directory; ALREADY_EXISTS if it exists (unless Parents).
func (c *Client) Mkdir(ctx context.Context, ref Ref, path string, opts MkdirOptions) (*Entry, error) {
	req := &v1.MakeDirectoryRequest{Container: ref.proto(), Path: path, Parents: opts.Parents}
	if opts.Mode != 0 {
		m := uint32(opts.Mode.Perm())
		req.Mode = &m
	}
	res, err := c.rpc.MakeDirectory(ctx, req)
	if err != nil {
		return nil, toError(ctx, err)
	}
	return res.Entry, nil
}

// RemoveOptions for Remove.
type RemoveOptions struct {
	Recursive bool // remove a non-empty directory and everything below it
}

// Remove removes a file, a symlink or an empty directory (any directory with Recursive).
func (c *Client) Remove(ctx context.Context, ref Ref, path string, opts RemoveOptions) error {
	_, err := c.rpc.Remove(ctx, &v1.RemoveRequest{Container: ref.proto(), Path: path, Recursive: opts.Recursive})
	return toError(ctx, err)
}

// RenameOptions for Rename.
type RenameOptions struct {
	Overwrite bool // replace an existing target (else ALREADY_EXISTS)
}

// Rename moves an entry within one container and returns it at its new path.
func (c *Client) Rename(ctx context.Context, ref Ref, from, to string, opts RenameOptions) (*Entry, error) {
	res, err := c.rpc.Rename(ctx, &v1.RenameRequest{Container: ref.proto(), Path: from, NewPath: to, Overwrite: opts.Overwrite})
	if err != nil {
		return nil, toError(ctx, err)
	}
	return res.Entry, nil
}
