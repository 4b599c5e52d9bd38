package main

// The quickstart (the program the README shows) run against a real
// `podfiles serve`, its output checked.

import (
	"fmt"
	"os"
	"testing"

	"github.com/podfiles/podfiles/sdk/go/internal/testserver"
)

func TestMain(m *testing.M) {
	root, err := os.MkdirTemp("", "podfiles-quickstart-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := testserver.Start(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("PODFILES_SERVER", srv.URL)
	code := m.Run()
	srv.Stop()
	os.RemoveAll(root)
	os.Exit(code)
}

func Example() {
	main()
	// Output:
	// uploaded /quickstart/hello.txt (15 bytes, sha256 cc1805d1)
	// -rw-r--r-- 15 hello.txt
	// hello podfiles
	// as expected: podfiles: NOT_FOUND: /quickstart/missing.txt: no such file or directory
}
