//go:build !windows

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// proxyChild is the parent's handle on the proxy child process.
type proxyChild struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	addr string
	mu   sync.Mutex // one command at a time
}

// controlTimeout bounds every exchange with the child, so a wedged child
// fails the run instead of hanging it.
const controlTimeout = 30 * time.Second

// startChild re-executes this binary as the proxy child and waits for its
// listening address.
func startChild(cfgPath string, stderr io.Writer) (*proxyChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(exe, childCommand, cfgPath)
	cmd.Stderr = stderr
	// The child exits on EOF on stdin, so it cannot outlive the parent.
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start proxy child: %w", err)
	}
	c := &proxyChild{cmd: cmd, in: in, out: bufio.NewReader(outPipe)}
	line, err := c.readLine()
	if err != nil {
		c.abort()
		return nil, fmt.Errorf("proxy child did not start: %w", err)
	}
	addr, ok := strings.CutPrefix(line, "ready ")
	if !ok {
		c.abort()
		return nil, fmt.Errorf("proxy child said %q, want ready", line)
	}
	c.addr = addr
	return c, nil
}

// readLine reads one line, giving up after controlTimeout.
func (c *proxyChild) readLine() (string, error) {
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := c.out.ReadString('\n')
		ch <- result{strings.TrimSpace(s), err}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-time.After(controlTimeout):
		c.kill()
		return "", errors.New("proxy child did not answer in time")
	}
}

func (c *proxyChild) command(cmd string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		return "", fmt.Errorf("proxy child %s: %w", cmd, err)
	}
	return c.readLine()
}

// usage asks the child for its own getrusage and VmHWM.
func (c *proxyChild) usage() (procUsage, error) {
	line, err := c.command("usage")
	if err != nil {
		return procUsage{}, err
	}
	var u procUsage
	if err := json.Unmarshal([]byte(line), &u); err != nil {
		return procUsage{}, fmt.Errorf("proxy child usage %q: %w", line, err)
	}
	return u, nil
}

func (c *proxyChild) address() string { return c.addr }

func (c *proxyChild) resetPeak() error {
	_, err := c.command("reset-peak")
	return err
}

// stop asks the child to quit (which also writes its CPU profile) and
// waits, killing it if it takes too long.
func (c *proxyChild) stop() error {
	c.mu.Lock()
	_, _ = io.WriteString(c.in, "quit\n")
	_ = c.in.Close()
	c.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		c.kill()
		<-done
		return errors.New("proxy child did not exit; killed")
	}
}

// abort kills the child and reaps it.
func (c *proxyChild) abort() {
	c.kill()
	_ = c.cmd.Wait()
}

func (c *proxyChild) kill() {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
	}
}
