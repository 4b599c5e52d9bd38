package podfiles_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	podfiles "github.com/podfiles/podfiles/sdk/go"
)

// wantCode checks the three ways a caller may look at an error's code.
func wantCode(t *testing.T, what string, err error, sentinel *podfiles.Error) {
	t.Helper()
	var e *podfiles.Error
	if !errors.As(err, &e) || e.Code != sentinel.Code || !errors.Is(err, sentinel) || status.Code(err) != sentinel.Code {
		t.Fatalf("%s: want %v, got %T %v", what, sentinel.Code, err, err)
	}
	if e.Message == "" || !strings.Contains(err.Error(), e.Message) {
		t.Fatalf("%s: the message is lost: %q", what, err.Error())
	}
}

func TestErrorCodes(t *testing.T) {
	c, ctx := dial(t), testContext(t)
	base := dir(t, "errors")
	writeFile(t, onDisk(base+"/file"), []byte("x"))
	if _, err := c.Mkdir(ctx, pod, base+"/dir", podfiles.MkdirOptions{}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, onDisk(base+"/dir/inside"), []byte("y"))

	t.Run("NOT_FOUND", func(t *testing.T) {
		_, err := c.Stat(ctx, pod, base+"/missing", podfiles.StatOptions{})
		wantCode(t, "Stat", err, podfiles.ErrNotFound)
		_, err = c.Download(ctx, pod, base+"/missing", io.Discard, podfiles.DownloadOptions{})
		wantCode(t, "Download", err, podfiles.ErrNotFound)
		err = c.Remove(ctx, pod, base+"/missing", podfiles.RemoveOptions{})
		wantCode(t, "Remove", err, podfiles.ErrNotFound)
		_, err = c.Upload(ctx, pod, base+"/no/parent/f", strings.NewReader("x"), podfiles.UploadOptions{})
		wantCode(t, "Upload without MakeParents", err, podfiles.ErrNotFound)
		var listErrs []error
		for e, err := range c.List(ctx, pod, base+"/missing", podfiles.ListOptions{}) {
			if e != nil {
				t.Fatalf("List yielded %v", e)
			}
			listErrs = append(listErrs, err)
		}
		if len(listErrs) != 1 {
			t.Fatalf("List yielded %d errors, want 1", len(listErrs))
		}
		wantCode(t, "List", listErrs[0], podfiles.ErrNotFound)
	})
	t.Run("ALREADY_EXISTS", func(t *testing.T) {
		_, err := c.Upload(ctx, pod, base+"/file", strings.NewReader("new"), podfiles.UploadOptions{})
		wantCode(t, "Upload without Overwrite", err, podfiles.ErrAlreadyExists)
		_, err = c.Mkdir(ctx, pod, base+"/dir", podfiles.MkdirOptions{})
		wantCode(t, "Mkdir", err, podfiles.ErrAlreadyExists)
		_, err = c.Rename(ctx, pod, base+"/dir/inside", base+"/file", podfiles.RenameOptions{})
		wantCode(t, "Rename without Overwrite", err, podfiles.ErrAlreadyExists)
		if string(readFile(t, onDisk(base+"/file"))) != "x" {
			t.Fatal("a refused call changed the file")
		}
	})
	t.Run("FAILED_PRECONDITION", func(t *testing.T) {
		_, err := c.DownloadToFile(ctx, pod, base+"/dir", t.TempDir()+"/d", podfiles.DownloadFileOptions{})
		wantCode(t, "DownloadToFile of a directory", err, podfiles.ErrFailedPrecondition)
		err = c.Remove(ctx, pod, base+"/dir", podfiles.RemoveOptions{})
		wantCode(t, "Remove of a non-empty directory", err, podfiles.ErrFailedPrecondition)
	})
	t.Run("INVALID_ARGUMENT", func(t *testing.T) {
		_, err := c.Upload(ctx, pod, base+"/g", strings.NewReader("x"), podfiles.UploadOptions{SHA256: []byte{1, 2, 3}})
		wantCode(t, "a 3-byte SHA256", err, podfiles.ErrInvalidArgument)
	})
	t.Run("the calls that succeed", func(t *testing.T) {
		if _, err := c.Mkdir(ctx, pod, base+"/dir", podfiles.MkdirOptions{Parents: true}); err != nil {
			t.Fatalf("Mkdir with Parents of an existing directory: %v", err)
		}
		e, err := c.Rename(ctx, pod, base+"/dir/inside", base+"/file", podfiles.RenameOptions{Overwrite: true})
		if err != nil || e.Path != base+"/file" || string(readFile(t, onDisk(base+"/file"))) != "y" {
			t.Fatalf("Rename with Overwrite: %v %v", e, err)
		}
		if err := c.Remove(ctx, pod, base+"/dir", podfiles.RemoveOptions{}); err != nil {
			t.Fatalf("Remove of the now empty directory: %v", err)
		}
		mustNotExist(t, onDisk(base+"/dir"))
	})
}

func TestErrorFormat(t *testing.T) {
	err := &podfiles.Error{Code: codes.AlreadyExists, Message: "/a: already exists"}
	if err.Error() != "podfiles: ALREADY_EXISTS: /a: already exists" || errors.Is(err, podfiles.ErrNotFound) || !errors.Is(err, podfiles.ErrAlreadyExists) {
		t.Fatalf("%q", err.Error())
	}
}
