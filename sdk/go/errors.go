package podfiles

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error is a failed call: the gRPC status code and the server's message (a
// sentence a person understands, e.g. "/nope: no such file or directory").
// status.Code(err) and errors.Is(err, ErrNotFound) both work on it.
type Error struct {
	Code    codes.Code
	Message string
	// cause is the context's error when the call ended because ctx did.
	cause error
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "podfiles: " + codeName(e.Code)
	}
	return "podfiles: " + codeName(e.Code) + ": " + e.Message
}

// GRPCStatus lets status.Code and status.FromError see the code.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// Is matches the sentinels below by code: errors.Is(err, ErrNotFound).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Unwrap gives context.Canceled or context.DeadlineExceeded when the caller's
// context ended the call.
func (e *Error) Unwrap() error { return e.cause }

// Sentinels for errors.Is, one per code the server uses (see the README's API section).
var (
	ErrCanceled           = &Error{Code: codes.Canceled}
	ErrInvalidArgument    = &Error{Code: codes.InvalidArgument}
	ErrDeadlineExceeded   = &Error{Code: codes.DeadlineExceeded}
	ErrNotFound           = &Error{Code: codes.NotFound}
	ErrAlreadyExists      = &Error{Code: codes.AlreadyExists}
	ErrPermissionDenied   = &Error{Code: codes.PermissionDenied}
	ErrResourceExhausted  = &Error{Code: codes.ResourceExhausted}
	ErrFailedPrecondition = &Error{Code: codes.FailedPrecondition}
	ErrOutOfRange         = &Error{Code: codes.OutOfRange}
	ErrUnavailable        = &Error{Code: codes.Unavailable}
	ErrDataLoss           = &Error{Code: codes.DataLoss}
	ErrUnauthenticated    = &Error{Code: codes.Unauthenticated}
)

// ErrShortDownload: the stream ended, or the trailer counted, fewer bytes than
// announced. errors.Is(err, ErrDataLoss) holds too.
var ErrShortDownload = errors.New("podfiles: short download")

// ErrResumeMismatch: a resumed transfer found that the bytes already on the
// other side are not the start of this content (the file changed, or is
// another file). errors.Is(err, ErrFailedPrecondition) holds too.
var ErrResumeMismatch = errors.New("podfiles: resume: the partial file is not a prefix of this content")

// DigestMismatchError: the SHA-256 of the bytes that arrived differs from the
// one the other side computed (download trailer, upload response) or from
// UploadOptions.SHA256.
type DigestMismatchError struct {
	Path      string
	Got, Want []byte
	// Committed is true for an upload whose file the server had already
	// written when the mismatch was seen (only when no SHA256 was given up front).
	Committed bool
}

func (e *DigestMismatchError) Error() string {
	s := fmt.Sprintf("podfiles: DATA_LOSS: %s: SHA-256 mismatch (got %s, expected %s)", e.Path, hex.EncodeToString(e.Got), hex.EncodeToString(e.Want))
	if e.Committed {
		s += "; the server had already written the file"
	}
	return s
}

func (e *DigestMismatchError) Is(target error) bool { return target == ErrDataLoss }
func (e *DigestMismatchError) GRPCStatus() *status.Status {
	return status.New(codes.DataLoss, e.Error())
}

// shortError is an ErrShortDownload with the counts.
type shortError struct {
	path      string
	got, want uint64
	why       string
}

func (e *shortError) Error() string {
	return fmt.Sprintf("podfiles: DATA_LOSS: %s: %s (%d of %d bytes arrived)", e.path, e.why, e.got, e.want)
}
func (e *shortError) Is(target error) bool {
	return target == ErrShortDownload || target == ErrDataLoss
}
func (e *shortError) GRPCStatus() *status.Status { return status.New(codes.DataLoss, e.Error()) }

// mismatchError is an ErrResumeMismatch with the reason.
type mismatchError struct{ msg string }

func (e *mismatchError) Error() string { return "podfiles: FAILED_PRECONDITION: " + e.msg }
func (e *mismatchError) Is(target error) bool {
	return target == ErrResumeMismatch || target == ErrFailedPrecondition
}
func (e *mismatchError) GRPCStatus() *status.Status {
	return status.New(codes.FailedPrecondition, e.msg)
}

// protocolError: the server broke the Download/Upload message order.
func protocolError(format string, args ...any) error {
	return &Error{Code: codes.DataLoss, Message: fmt.Sprintf(format, args...)}
}

// toError turns what grpc-go returns into the SDK's errors; errors this
// package made (and io errors of the caller's reader or writer) pass through.
func toError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var own *Error
	var digest *DigestMismatchError
	if errors.As(err, &own) || errors.As(err, &digest) || errors.Is(err, ErrShortDownload) || errors.Is(err, ErrResumeMismatch) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err // the caller's reader or writer, or a local file
	}
	e := &Error{Code: st.Code(), Message: st.Message()}
	if (e.Code == codes.Canceled || e.Code == codes.DeadlineExceeded) && ctx.Err() != nil {
		e.cause = ctx.Err()
	}
	return e
}

var codeNames = map[codes.Code]string{
	codes.OK: "OK", codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
	codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
	codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE",
	codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
	codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
}

// codeName is the code as the gRPC spec and the CLI spell it (NOT_FOUND).
func codeName(c codes.Code) string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return c.String()
}
