package podfiles

import (
	"crypto/sha256"
	"io"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
)

// ReceiveForTest runs the download verifier on a crafted stream of messages.
func ReceiveForTest(s interface {
	Recv() (*v1.DownloadResponse, error)
}, path string, w io.Writer) (*DownloadResult, error) {
	return receive(s, path, w, sha256.New(), nil, func() error { return nil })
}
