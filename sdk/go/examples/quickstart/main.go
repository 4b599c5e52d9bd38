// Quickstart: upload a file into a container, list its directory, download
// it back and read an error's code, with github.com/podfiles/podfiles/sdk/go.
//
//	podfiles serve --root /tmp/demo &      # serves /tmp/demo as container local/local/local
//	PODFILES_SERVER=http://127.0.0.1:8080 go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	podfiles "github.com/podfiles/podfiles/sdk/go"
)

func main() {
	server := os.Getenv("PODFILES_SERVER")
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	// On a cluster: "https://..." with podfiles.WithToken(os.Getenv("PODFILES_TOKEN")).
	client, err := podfiles.Dial(server)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pod := podfiles.Ref{Namespace: "local", Pod: "local", Container: "local"}

	// The file appears whole or not at all; its size and SHA-256 are checked.
	up, err := client.Upload(ctx, pod, "/quickstart/hello.txt", strings.NewReader("hello podfiles\n"),
		podfiles.UploadOptions{MakeParents: true, Overwrite: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("uploaded %s (%d bytes, sha256 %x)\n", up.Entry.Path, up.Bytes, up.SHA256[:4])

	for entry, err := range client.List(ctx, pod, "/quickstart", podfiles.ListOptions{}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(entry.ModeText, entry.Size, entry.Name)
	}

	// Download checks the length and the trailer's SHA-256 before it returns.
	if _, err := client.Download(ctx, pod, "/quickstart/hello.txt", os.Stdout, podfiles.DownloadOptions{}); err != nil {
		log.Fatal(err)
	}

	// Errors carry the gRPC code.
	_, err = client.Stat(ctx, pod, "/quickstart/missing.txt", podfiles.StatOptions{})
	if errors.Is(err, podfiles.ErrNotFound) {
		fmt.Println("as expected:", err)
	}
}
