package podfiles_test

// README.md's promises, checked: it shows examples/quickstart/main.go
// verbatim, and both ways it gives of using the unpublished module (go.mod
// require + replace lines, or a go.work) build that program in a module
// outside this repository.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func readmeBlocks(t *testing.T) (goBlock, requireBlock, workCommand string) {
	readme := string(readFile(t, "README.md"))
	if m := regexp.MustCompile("(?s)```go\n(.*?)```").FindStringSubmatch(readme); m != nil {
		goBlock = m[1]
	}
	if m := regexp.MustCompile("(?s)```\n(require \\(.*?)```").FindStringSubmatch(readme); m != nil {
		requireBlock = m[1]
	}
	if m := regexp.MustCompile("`(go work init [^`]*)`").FindStringSubmatch(readme); m != nil {
		workCommand = m[1]
	}
	if goBlock == "" || requireBlock == "" || workCommand == "" {
		t.Fatalf("README.md lacks the go block, the require/replace block or the go work command")
	}
	return goBlock, requireBlock, workCommand
}

func TestReadme(t *testing.T) {
	goBlock, requireBlock, workCommand := readmeBlocks(t)
	quickstart := string(readFile(t, "examples/quickstart/main.go"))
	if goBlock != quickstart {
		t.Fatal("README.md's Go program differs from examples/quickstart/main.go")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checkout := func(s string) string { return strings.ReplaceAll(s, "/path/to/podfiles", repo) }
	goCmd := func(t *testing.T, dir string, args ...string) {
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOWORK=") // the go.work of dir, if any
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	user := func(t *testing.T, gomod string) string {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "main.go"), []byte(quickstart))
		writeFile(t, filepath.Join(dir, "go.mod"), []byte("module example.com/podfiles-user\n\ngo 1.26.0\n\n"+gomod))
		return dir
	}

	t.Run("go.mod require and replace", func(t *testing.T) {
		t.Parallel()
		dir := user(t, checkout(requireBlock))
		goCmd(t, dir, "mod", "tidy")
		goCmd(t, dir, "build", "-o", os.DevNull, ".")
	})
	t.Run("go work", func(t *testing.T) {
		t.Parallel()
		dir := user(t, "")
		goCmd(t, dir, strings.Fields(checkout(workCommand))[1:]...)
		goCmd(t, dir, "build", "-o", os.DevNull, ".")
	})
}
