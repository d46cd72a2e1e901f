package controlplane

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testbin"
)

// proc is one running alter process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	out    *testbin.SyncBuffer // stdout and stderr together
	exited chan struct{}
	addr   string // what it said it listens on
	admin  string // and its admin listener, if it named one
}

// start runs alter with args and waits until its output matches ready,
// whose first group is the address it listens on (and second, if any, its
// admin listener).
func start(t *testing.T, name string, ready *regexp.Regexp, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &testbin.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(alterBin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.kill(syscall.SIGTERM) })
	m, err := p.out.WaitFor(ready, p.exited)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p.addr = m[1]
	if len(m) > 2 {
		p.admin = m[2]
	}
	return p
}

// kill sends sig and waits for the process to end (SIGKILL after 10s).
func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// run runs alter to completion and returns its stdout; stderr goes into
// the error.
func run(ctx context.Context, stdin string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, alterBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), &runError{args: args, err: err, stderr: errOut.String()}
	}
	return out.String(), nil
}

type runError struct {
	args   []string
	err    error
	stderr string
}

func (e *runError) Error() string {
	return "alter " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.stderr
}
