package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// child is the running `alter proxy`.
type child struct {
	cmd          *exec.Cmd
	proxy, admin string
	mu           sync.Mutex
	log          bytes.Buffer
}

func (c *child) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.Write(p)
}

func (c *child) logText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

var listening = regexp.MustCompile(`listening on (\S+) \(admin (\S+)\)`)

func startProxy(f *fixture) (*child, error) {
	cfg := fmt.Sprintf(`version: 1
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
store: {path: %q, key_file: %q}
mitm: {ca_cert: %q, ca_key: %q, hosts: auto}
upstream:
  ca_file: %q
  resolve:
    "api.soak.test:443": %q
    "tunnel.soak.test:443": %q
    "plain.soak.test:80": %q
    "open.soak.test:80": %q
audit: {path: %q}
log: {level: info}
`, f.home+"/grants.json", f.home+"/master.key", f.home+"/ca.pem", f.home+"/ca-key.pem", f.upCAPath,
		f.tlsAddr, f.tlsAddr, f.httpAddr, f.httpAddr, filepath.Join(f.dir, "audit.log"))
	path := filepath.Join(f.dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	c := &child{}
	c.cmd = exec.Command(f.bin, "--home", f.home, "proxy", "--config", path)
	c.cmd.Stdout, c.cmd.Stderr = io.Discard, c
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := listening.FindStringSubmatch(c.logText()); m != nil {
			c.proxy, c.admin = m[1], m[2]
			return c, nil
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("proxy did not start: %s", c.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

func (c *child) secretInLog(secret string) bool { return strings.Contains(c.logText(), secret) }

// rssKiB is VmRSS from /proc/PID/status.
func (c *child) rssKiB() int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
}

func (c *child) fds() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	return len(ents)
}

// goroutines reads go_goroutines from the admin listener's /metrics.
func (c *child) goroutines() int {
	resp, err := http.Get("http://" + c.admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "go_goroutines" {
			n, _ := strconv.ParseFloat(f[1], 64)
			return int(n)
		}
	}
	return -1
}

func report(label string, c *child, tr *traffic) {
	fmt.Printf("%-6s rss=%6d KiB  goroutines=%4d  fds=%4d  requests=%8d  errors=%d\n",
		label, c.rssKiB(), c.goroutines(), c.fds(), tr.requests.Load(), tr.errors.Load())
}
