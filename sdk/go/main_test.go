package podfiles_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	podfiles "github.com/podfiles/podfiles/sdk/go"
	"github.com/podfiles/podfiles/sdk/go/internal/testserver"
)

// The real server every test, example and benchmark of this package talks to:
// `podfiles serve --root <tmp>`, which answers as container local/local/local.
var (
	server    *testserver.Server
	serverURL string // what the examples pass to podfiles.Dial
	pod       = podfiles.Ref{Namespace: "local", Pod: "local", Container: "local"}
)

func TestMain(m *testing.M) {
	root, err := os.MkdirTemp("", "podfiles-sdk-go-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server, err = testserver.Start(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(root)
		os.Exit(1)
	}
	serverURL = server.URL
	code := m.Run()
	server.Stop()
	os.RemoveAll(root)
	os.Exit(code)
}

// dial is a client of the test server, closed with the test.
func dial(t testing.TB) *podfiles.Client {
	t.Helper()
	c, err := podfiles.Dial(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// dir makes /NAME in the served root (fresh) and returns its remote path.
func dir(t testing.TB, name string) string {
	t.Helper()
	local := filepath.Join(server.Root, name)
	if err := os.RemoveAll(local); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		t.Fatal(err)
	}
	return "/" + name
}

// onDisk is the served file behind a remote path.
func onDisk(remote string) string { return filepath.Join(server.Root, filepath.FromSlash(remote)) }

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
