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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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
// path, runs the tests and removes the directory. Each of also builds
// more into the same directory first (a helper program of the suite's).
// It returns the exit code for os.Exit.
func Main(m *testing.M, bin *string, also ...func(dir string) error) int {
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
	for _, build := range also {
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// SyncBuffer collects a process's output while the test reads it: a
// bytes.Buffer safe for one writer and concurrent readers, which tells
// waiters of every write (WaitFor).
type SyncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed and replaced on every write
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil {
		close(s.written)
		s.written = nil
	}
	return s.b.Write(p)
}

// StartTimeout is how long WaitFor waits for a line: one bound for every
// suite, generous because CI machines are shared and the race detector
// slows start-up several times.
const StartTimeout = 60 * time.Second

// WaitFor waits until the output matches re and returns the match and its
// groups. It wakes on each write, not on a timer. It fails when exited (may
// be nil) is closed first, or after StartTimeout.
func (s *SyncBuffer) WaitFor(re *regexp.Regexp, exited <-chan struct{}) ([]string, error) {
	deadline := time.NewTimer(StartTimeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		m := re.FindStringSubmatch(s.b.String())
		if s.written == nil {
			s.written = make(chan struct{})
		}
		written := s.written
		s.mu.Unlock()
		if m != nil {
			return m, nil
		}
		select {
		case <-written:
		case <-exited:
			if m := re.FindStringSubmatch(s.String()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("the process exited before its output matched %q:\n%s", re, s.String())
		case <-deadline.C:
			return nil, fmt.Errorf("no output matching %q after %v:\n%s", re, StartTimeout, s.String())
		}
	}
}

// Proc is a process a test started, with its output collected.
type Proc struct {
	Cmd    *exec.Cmd
	Out    *SyncBuffer   // stdout and stderr, unless the command set its own
	Exited chan struct{} // closed when the process has exited
}

// Start starts cmd, collecting its output in Out where cmd has no Stdout
// or Stderr of its own, and stops it when the test ends: an interrupt, then
// a kill if it has not exited 10 s later.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, Out: &SyncBuffer{}, Exited: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Out
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.Exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.Exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-p.Exited
		}
	})
	return p
}

// ListeningRE matches the line alter proxy and alter server print once they
// listen; group 1 is the address.
var ListeningRE = regexp.MustCompile(`listening on (\S+)`)

// WaitListening waits for the process's "listening on ADDR" line in out
// and returns ADDR; the test fails if the process exits first.
func (p *Proc) WaitListening(t testing.TB, out *SyncBuffer) string {
	t.Helper()
	m, err := out.WaitFor(ListeningRE, p.Exited)
	if err != nil {
		t.Fatal(err)
	}
	return m[1]
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Need skips the test when something it needs is missing (err is why), or
// fails it in CI (CI set), where .ci/run must have installed it.
func Need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (.ci/run installs it): %v", what, err)
	}
	t.Skipf("SKIP: %s is not available (%v); .ci/run installs it", what, err)
}

// CleanEnv is this process's environment for a command a suite runs as a
// user would: without proxy, CA-bundle and ALTER_* settings (the test's
// own shell must not steer it), with HOME at home, plus extra.
func CleanEnv(home string, extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "HOME":
			continue
		}
		if strings.HasPrefix(k, "ALTER_") {
			continue
		}
		out = append(out, kv)
	}
	return append(append(out, "HOME="+home), extra...)
}

// Result is what one command printed and how it ended.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs cmd to its end and returns what it printed and its exit code;
// a command that cannot start fails the test.
func Run(t testing.TB, cmd *exec.Cmd) Result {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errOut.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}
