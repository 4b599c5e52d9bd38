// Package testserver starts a real `podfiles serve` (the repo's built
// bin/podfiles.js) for the SDK's tests, examples and benchmarks.
package testserver

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"time"
)

// Server is a running `podfiles serve --root Root`.
type Server struct {
	Root string // the directory served as container local/local/local
	Port int
	URL  string // http://127.0.0.1:PORT (https:// with TLS)
	cmd  *exec.Cmd
	log  *lockedLog
}

var listening = regexp.MustCompile(`"msg":"listening".*?"port":(\d+)`)

// Start runs node bin/podfiles.js serve --root ROOT --port 0 ARGS... and waits
// for the "listening" line of its JSON log on stderr. The node binary is
// $PODFILES_NODE (the spec passes the one running vitest), else node on PATH.
func Start(root string, args ...string) (*Server, error) {
	node := os.Getenv("PODFILES_NODE")
	if node == "" {
		node = "node"
	}
	bin := filepath.Join(repoRoot(), "bin", "podfiles.js")
	if _, err := os.Stat(filepath.Join(repoRoot(), "dist")); err != nil {
		return nil, fmt.Errorf("the repo is not built (npm run build:native && npm run build): %w", err)
	}
	cmd := exec.Command(node, append([]string{bin, "serve", "--root", root, "--port", "0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", node, err)
	}
	s := &Server{Root: root, cmd: cmd, log: &lockedLog{}}
	port := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		found := false
		for sc.Scan() {
			line := sc.Text()
			s.log.add(line)
			if m := listening.FindStringSubmatch(line); m != nil && !found {
				found = true
				n, _ := strconv.Atoi(m[1])
				port <- n
			}
		}
		close(port)
	}()
	select {
	case p, ok := <-port:
		if !ok {
			cmd.Wait()
			return nil, fmt.Errorf("podfiles serve exited before listening: %s", s.log.text())
		}
		s.Port = p
	case <-time.After(30 * time.Second):
		s.Stop()
		return nil, fmt.Errorf("podfiles serve did not listen within 30 s: %s", s.log.text())
	}
	s.URL = fmt.Sprintf("http://127.0.0.1:%d", s.Port)
	return s, nil
}

// Stop ends the server (SIGKILL: nothing of its state matters after the tests).
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

// Log is what the server wrote on stderr so far.
func (s *Server) Log() string { return s.log.text() }

// PID of the server process, for CPU accounting in benchmarks.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// repoRoot is three levels above this file (sdk/go/internal/testserver).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}
