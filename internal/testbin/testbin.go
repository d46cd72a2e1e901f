// Package testbin helps the black-box suites run the alter binary as users
// do: it builds the binary and collects a running process's output. Only
// tests import it.
package testbin

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// BuildAlter builds the alter command into dir and returns the binary's
// path. The error carries the compiler's output.
func BuildAlter(dir string) (string, error) {
	bin := filepath.Join(dir, "alter")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/alter-sidecar/alter/cmd/alter").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/alter: %v\n%s", err, out)
	}
	return bin, nil
}

// Main is the body of a TestMain whose suite runs the binary: it builds
// alter once for the package into a temporary directory, sets *bin to its
// path, runs the tests and removes the directory. It returns the exit code
// for os.Exit.
func Main(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "alter-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = BuildAlter(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// SyncBuffer collects a process's output while the test reads it: a
// bytes.Buffer safe for one writer and concurrent readers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
