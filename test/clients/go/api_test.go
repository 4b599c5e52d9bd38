package clients

import (
	"context"
	"errors"
	"io"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
	"github.com/podfiles/podfiles/gen/go/podfiles/v1/podfilesv1connect"
)

// fileAPI is the part of FileService the scenario uses, with streams
// collected, so one scenario runs over grpc-go and connect-go alike.
type fileAPI interface {
	List(ctx context.Context, req *v1.ListFilesRequest) ([]*v1.FileEntry, error)
	Stat(ctx context.Context, req *v1.StatRequest) (*v1.StatResponse, error)
	Download(ctx context.Context, req *v1.DownloadRequest) ([]*v1.DownloadResponse, error)
	Upload(ctx context.Context, msgs []*v1.UploadRequest) (*v1.UploadResponse, error)
	MakeDirectory(ctx context.Context, req *v1.MakeDirectoryRequest) (*v1.MakeDirectoryResponse, error)
	Rename(ctx context.Context, req *v1.RenameRequest) (*v1.RenameResponse, error)
	Remove(ctx context.Context, req *v1.RemoveRequest) (*v1.RemoveResponse, error)
	// Code is the status code carried by an error of this client (OK for nil).
	Code(err error) codes.Code
}

type grpcAPI struct{ c v1.FileServiceClient }

func (a grpcAPI) List(ctx context.Context, req *v1.ListFilesRequest) ([]*v1.FileEntry, error) {
	stream, err := a.c.ListFiles(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []*v1.FileEntry
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, msg.GetEntries()...)
	}
}

func (a grpcAPI) Stat(ctx context.Context, req *v1.StatRequest) (*v1.StatResponse, error) {
	return a.c.Stat(ctx, req)
}

func (a grpcAPI) Download(ctx context.Context, req *v1.DownloadRequest) ([]*v1.DownloadResponse, error) {
	stream, err := a.c.Download(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []*v1.DownloadResponse
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, msg)
	}
}

func (a grpcAPI) Upload(ctx context.Context, msgs []*v1.UploadRequest) (*v1.UploadResponse, error) {
	stream, err := a.c.Upload(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		// io.EOF means the server already answered: CloseAndRecv has the status.
		if err := stream.Send(m); err != nil {
			break
		}
	}
	return stream.CloseAndRecv()
}

func (a grpcAPI) MakeDirectory(ctx context.Context, req *v1.MakeDirectoryRequest) (*v1.MakeDirectoryResponse, error) {
	return a.c.MakeDirectory(ctx, req)
}

func (a grpcAPI) Rename(ctx context.Context, req *v1.RenameRequest) (*v1.RenameResponse, error) {
	return a.c.Rename(ctx, req)
}

func (a grpcAPI) Remove(ctx context.Context, req *v1.RemoveRequest) (*v1.RemoveResponse, error) {
	return a.c.Remove(ctx, req)
}

func (grpcAPI) Code(err error) codes.Code { return status.Code(err) }

type connectAPI struct {
	c podfilesv1connect.FileServiceClient
}

func (a connectAPI) List(ctx context.Context, req *v1.ListFilesRequest) ([]*v1.FileEntry, error) {
	stream, err := a.c.ListFiles(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	var out []*v1.FileEntry
	for stream.Receive() {
		out = append(out, stream.Msg().GetEntries()...)
	}
	return out, stream.Err()
}

func (a connectAPI) Stat(ctx context.Context, req *v1.StatRequest) (*v1.StatResponse, error) {
	return unwrap(a.c.Stat(ctx, connect.NewRequest(req)))
}

func (a connectAPI) Download(ctx context.Context, req *v1.DownloadRequest) ([]*v1.DownloadResponse, error) {
	stream, err := a.c.Download(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	var out []*v1.DownloadResponse
	for stream.Receive() {
		out = append(out, stream.Msg())
	}
	return out, stream.Err()
}

func (a connectAPI) Upload(ctx context.Context, msgs []*v1.UploadRequest) (*v1.UploadResponse, error) {
	stream := a.c.Upload(ctx)
	for _, m := range msgs {
		// On a send error, CloseAndReceive returns the server's status.
		if err := stream.Send(m); err != nil {
			break
		}
	}
	return unwrap(stream.CloseAndReceive())
}

func (a connectAPI) MakeDirectory(ctx context.Context, req *v1.MakeDirectoryRequest) (*v1.MakeDirectoryResponse, error) {
	return unwrap(a.c.MakeDirectory(ctx, connect.NewRequest(req)))
}

func (a connectAPI) Rename(ctx context.Context, req *v1.RenameRequest) (*v1.RenameResponse, error) {
	return unwrap(a.c.Rename(ctx, connect.NewRequest(req)))
}

func (a connectAPI) Remove(ctx context.Context, req *v1.RemoveRequest) (*v1.RemoveResponse, error) {
	return unwrap(a.c.Remove(ctx, connect.NewRequest(req)))
}

// Connect codes have the same numbers as gRPC's.
func (connectAPI) Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	return codes.Code(connect.CodeOf(err))
}

func unwrap[T any](res *connect.Response[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}
