//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/errcode"
)

// TestRunIgnoresAnotherUsersProxy: alter run gives the command the grant id
// or profile token as its proxy password, so the proxy at the configured
// address must be this user's. A listener another user owns there (a shared
// machine's default port, a squatter) is not used, however alter-like its
// answer: alter run serves its own proxy instead.
func TestRunIgnoresAnotherUsersProxy(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to start a listener as another user")
	}
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary's directory is private: a copy the other user can run.
	dir, err := os.MkdirTemp("", "alter-fake-proxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "fake-proxy")
	if err := os.WriteFile(copyPath, bin, 0o755); err != nil || os.Chmod(dir, 0o755) != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(copyPath)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ALTER_TEST_FAKE_PROXY=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start a process as another user: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	fake := strings.TrimSpace(line)
	resp, err := http.Get("http://" + fake + "/")
	if err != nil || resp.Header.Get(errcode.HeaderError) == "" {
		t.Fatalf("the fake proxy at %s does not look like one: %v", fake, err)
	}
	resp.Body.Close()

	home := t.TempDir()
	t.Setenv("ALTER_HOME", home)
	t.Setenv("HOME", home)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"init"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("init: %d %s", code, stderr.String())
	}
	cfgPath := filepath.Join(home, config.FileName)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	b = regexp.MustCompile(`(?m)^listen: .*$`).ReplaceAll(b, []byte(fmt.Sprintf("listen: %q", fake)))
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	const grantID = "66666666-6666-4666-8666-666666666666"
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"run", "--grant", grantID, "--", "printenv", "HTTPS_PROXY"}, strings.NewReader(""), &stdout, &stderr)
	}()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("alter run: %d %s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("alter run did not end")
	}
	if strings.Contains(stdout.String(), fake) {
		t.Fatalf("alter run pointed the command, with its grant id, at another user's listener %s: %s", fake, stdout.String())
	}
	if !strings.Contains(stdout.String(), grantID+"@127.0.0.1:") {
		t.Fatalf("HTTPS_PROXY = %q, want alter run's own proxy", stdout.String())
	}
	// alter env starts no proxy of its own: it refuses to print settings
	// that point at another user's listener.
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"env", "--grant", grantID}, strings.NewReader(""), &stdout, &stderr); code == 0 || strings.Contains(stdout.String(), grantID) {
		t.Fatalf("alter env: exit %d, printed %q", code, stdout.String())
	}
}

// TestListenersAt reads /proc/net/tcp and tcp6 lines: the address itself
// or the unspecified address, listening sockets only.
func TestListenersAt(t *testing.T) {
	v4 := []byte("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: " + procHex(net.ParseIP("127.0.0.1").To4()) + ":1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 1 1\n" +
		"   1: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1002        0 2 1\n" +
		"   2: " + procHex(net.ParseIP("127.0.0.1").To4()) + ":1F92 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1003        0 3 1\n")
	v6 := []byte("  sl  local_address remote_address st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
		"   0: 00000000000000000000000000000000:1F93 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1004        0 4 1\n" +
		"   1: " + procHex(net.IPv6loopback) + ":1F94 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1005        0 5 1\n")
	lo4, lo6 := net.ParseIP("127.0.0.1"), net.IPv6loopback
	for _, tt := range []struct {
		table []byte
		ip    net.IP
		port  int
		want  string
	}{
		{v4, lo4, 8080, "[1001]"},
		{v4, lo4, 8081, "[1002]"}, // 0.0.0.0
		{v4, lo4, 8082, "[]"},     // not listening
		{v4, lo6, 8080, "[]"},
		{v6, lo4, 8083, "[1004]"}, // [::] takes IPv4 too
		{v6, lo6, 8084, "[1005]"},
		{v6, lo4, 8084, "[]"},
	} {
		if got := fmt.Sprint(listenersAt(tt.table, tt.ip, tt.port)); got != tt.want && !(got == "[]" && tt.want == "[]") {
			t.Errorf("%v:%d: %s, want %s", tt.ip, tt.port, got, tt.want)
		}
	}
}

// procHex prints an address as /proc/net/tcp does.
func procHex(ip net.IP) string {
	var b strings.Builder
	for i := 0; i < len(ip); i += 4 {
		w := uint32(ip[i])<<24 | uint32(ip[i+1])<<16 | uint32(ip[i+2])<<8 | uint32(ip[i+3])
		var buf [4]byte
		binary.NativeEndian.PutUint32(buf[:], w)
		fmt.Fprintf(&b, "%02X%02X%02X%02X", buf[0], buf[1], buf[2], buf[3])
	}
	return b.String()
}
