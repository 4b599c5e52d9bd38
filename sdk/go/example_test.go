package podfiles_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	v1 "github.com/podfiles/podfiles/gen/go/podfiles/v1"
	podfiles "github.com/podfiles/podfiles/sdk/go"
)

// The examples run against the `podfiles serve` that TestMain started
// (serverURL is its http://127.0.0.1:PORT).

func Example() {
	client, err := podfiles.Dial(serverURL) // e.g. "http://127.0.0.1:8080"
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	pod := podfiles.Ref{Namespace: "local", Pod: "local", Container: "local"}

	// The server commits the file only if every byte arrived (size and SHA-256 checked).
	up, err := client.Upload(ctx, pod, "/example/hello.txt", strings.NewReader("hello podfiles\n"),
		podfiles.UploadOptions{MakeParents: true, Overwrite: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("uploaded", up.Entry.Path, up.Bytes, "bytes")

	// Download checks the length and the trailer's SHA-256 before it returns nil.
	var buf bytes.Buffer
	if _, err := client.Download(ctx, pod, "/example/hello.txt", &buf, podfiles.DownloadOptions{}); err != nil {
		log.Fatal(err)
	}
	fmt.Print(buf.String())
	// Output:
	// uploaded /example/hello.txt 15 bytes
	// hello podfiles
}

func ExampleClient_List() {
	client, err := podfiles.Dial(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	pod := podfiles.Ref{Namespace: "local", Pod: "local", Container: "local"}

	if _, err := client.Mkdir(ctx, pod, "/example-list/sub", podfiles.MkdirOptions{Parents: true}); err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"a.txt", "sub/b.txt"} {
		_, err := client.Upload(ctx, pod, "/example-list/"+name, strings.NewReader(name), podfiles.UploadOptions{Overwrite: true})
		if err != nil {
			log.Fatal(err)
		}
	}

	// Entries stream in batches; the order is the directory's, so sort for printing.
	var lines []string
	for entry, err := range client.List(ctx, pod, "/example-list", podfiles.ListOptions{Recursive: true}) {
		if err != nil {
			log.Fatal(err)
		}
		line := entry.ModeText + " " + entry.Path
		if entry.Type == v1.FileType_FILE_TYPE_REGULAR {
			line += fmt.Sprintf(" (%d bytes)", entry.Size)
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// -rw-r--r-- /example-list/a.txt (5 bytes)
	// -rw-r--r-- /example-list/sub/b.txt (9 bytes)
	// drwxr-xr-x /example-list/sub
}

func ExampleClient_UploadFile() {
	client, err := podfiles.Dial(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	pod := podfiles.Ref{Namespace: "local", Pod: "local", Container: "local"}

	local := filepath.Join(os.TempDir(), "podfiles-example-upload.bin")
	if err := os.WriteFile(local, bytes.Repeat([]byte("podfiles"), 512<<10), 0o644); err != nil { // 4 MiB
		log.Fatal(err)
	}
	defer os.Remove(local)

	// UploadFile reads the file's size and SHA-256 first and sends them in the
	// header: the server writes the file only if exactly those bytes arrive.
	res, err := client.UploadFile(ctx, pod, local, "/example-upload/data.bin",
		podfiles.UploadOptions{MakeParents: true, Overwrite: true, Mode: 0o600})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s %s %d bytes sha256 %x\n", res.Entry.ModeText, res.Entry.Path, res.Entry.Size, res.SHA256[:8])
	// Output:
	// -rw------- /example-upload/data.bin 4194304 bytes sha256 f2d42b1719ad6872
}

func ExampleClient_DownloadToFile() {
	client, err := podfiles.Dial(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	pod := podfiles.Ref{Namespace: "local", Pod: "local", Container: "local"}

	content := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB
	if _, err := client.Upload(ctx, pod, "/example-get/big.bin", bytes.NewReader(content),
		podfiles.UploadOptions{MakeParents: true, Overwrite: true}); err != nil {
		log.Fatal(err)
	}

	local := filepath.Join(os.TempDir(), "podfiles-example-big.bin")
	defer os.Remove(local)
	// Pretend an earlier download stopped after 1 MiB: Resume keeps those
	// bytes (after the server has confirmed their SHA-256) and fetches the rest.
	if err := os.WriteFile(local+".part", content[:1<<20], 0o600); err != nil {
		log.Fatal(err)
	}
	res, err := client.DownloadToFile(ctx, pod, "/example-get/big.bin", local, podfiles.DownloadFileOptions{Resume: true})
	if err != nil {
		log.Fatal(err)
	}
	got, _ := os.ReadFile(local)
	fmt.Println("size", res.Size, "resumed at", res.ResumedAt, "same bytes:", bytes.Equal(got, content))
	// Output:
	// size 4194304 resumed at 1048576 same bytes: true
}

func ExampleError() {
	client, err := podfiles.Dial(serverURL)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	pod := podfiles.Ref{Namespace: "local", Pod: "local", Container: "local"}

	_, err = client.Stat(ctx, pod, "/no/such/file", podfiles.StatOptions{})
	fmt.Println(errors.Is(err, podfiles.ErrNotFound), status.Code(err) == codes.NotFound)
	var e *podfiles.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, "|", e.Message)
	}
	fmt.Println(err)
	// Output:
	// true true
	// NotFound | /no/such/file: no such file or directory
	// podfiles: NOT_FOUND: /no/such/file: no such file or directory
}

// A server on a cluster: TLS and a bearer token (compiled, not run: it needs that server).
func ExampleDial_tokenAndTLS() {
	client, err := podfiles.Dial("https://podfiles.example.com:8443",
		podfiles.WithTLS(&tls.Config{MinVersion: tls.VersionTLS13}),
		podfiles.WithToken(os.Getenv("PODFILES_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
}
