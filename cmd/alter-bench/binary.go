//go:build !windows

package main

// --binary measures the built alter binary as an operator runs it (alter
// proxy --config FILE): its config loading, metrics, store polling,
// hardening and GC tuning all count. It has no control channel like the
// proxy child's, so its CPU time and memory are read from /proc, and it is
// stopped with SIGTERM, as a supervisor would stop it.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"
)

// binaryStartTimeout bounds the wait for the binary's listening line.
const binaryStartTimeout = 30 * time.Second

// binaryConfig is the part of alter's config file the bench sets; every
// other key keeps the default an operator would get.
type binaryConfig struct {
	Version     int    `yaml:"version"`
	Listen      string `yaml:"listen"`
	AdminListen string `yaml:"admin_listen"`
	Store       struct {
		Type    string `yaml:"type"`
		Path    string `yaml:"path"`
		KeyFile string `yaml:"key_file"`
	} `yaml:"store"`
	MITM struct {
		CACert string `yaml:"ca_cert"`
		CAKey  string `yaml:"ca_key"`
		Hosts  string `yaml:"hosts"`
	} `yaml:"mitm"`
	Passthrough string `yaml:"passthrough"`
	Upstream    struct {
		CAFile  string            `yaml:"ca_file"`
		Resolve map[string]string `yaml:"resolve"`
		HTTP2   bool              `yaml:"http2"`
	} `yaml:"upstream"`
	Audit struct {
		Path string `yaml:"path"`
	} `yaml:"audit"`
	Log struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
}

// writeBinaryConfig writes the config that gives the binary what the
// proxy child gets: the fixture's store and CAs and the upstream pins.
func writeBinaryConfig(path string, o options, fix *fixture, resolve map[string]string) error {
	var c binaryConfig
	c.Version = 1
	c.Listen = "127.0.0.1:0"
	c.AdminListen = "" // nothing else listening, and nothing else to measure
	c.Store.Type, c.Store.Path, c.Store.KeyFile = "file", fix.storePath, fix.keyPath
	c.MITM.CACert, c.MITM.CAKey, c.MITM.Hosts = fix.mitmCert, fix.mitmKey, "auto"
	c.Passthrough = "allow"
	c.Upstream.CAFile, c.Upstream.Resolve, c.Upstream.HTTP2 = fix.upCert, resolve, o.UpstreamHTTP2
	switch o.Audit {
	case auditFile:
		c.Audit.Path = filepath.Join(fix.dir, "audit.log")
	case auditDevNull:
		c.Audit.Path = os.DevNull
	default:
		// parseFlags refuses --audit none with --binary: alter has no such sink.
		return fmt.Errorf("--audit %s is not possible with --binary", o.Audit)
	}
	// Warnings and errors only, as for the child: info lines are not
	// production load.
	c.Log.Level = "warn"
	data, err := yaml.Marshal(&c)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// proxyBinary is the bench's handle on the running alter binary.
type proxyBinary struct {
	cmd      *exec.Cmd
	addr     string
	stderr   *stderrWatch
	progress io.Writer
	clkTck   int64
	exited   chan struct{} // closed once Wait has returned
	waitErr  error         // Wait's result, set before exited is closed
	maxHWM   int64         // the largest VmHWM seen, across peak resets
	warned   bool          // about a peak that could not be reset
}

// startBinary runs `path proxy --config cfgPath --home home` with this
// process's environment (GOGC is left to the binary's own tuning) and
// waits for the line saying where it listens.
func startBinary(path, cfgPath, home string, progress io.Writer) (*proxyBinary, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	w := &stderrWatch{out: progress, addr: make(chan string, 1)}
	cmd := exec.Command(path, "proxy", "--config", cfgPath, "--home", home)
	cmd.Stdout = progress
	cmd.Stderr = w
	// Once it has exited, do not wait for a descendant holding its stderr.
	cmd.WaitDelay = time.Second
	// The proxy child exits when the bench's end of its stdin closes; the
	// binary reads no stdin, so tie it to the bench where the OS can.
	cmd.SysProcAttr = orphanSignal()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	b := &proxyBinary{cmd: cmd, stderr: w, progress: progress, clkTck: clockTicks(), exited: make(chan struct{})}
	go func() {
		// Wait returns after the copy into w is done, so the stderr lines
		// are complete once exited is closed.
		b.waitErr = cmd.Wait()
		w.flush()
		close(b.exited)
	}()
	timer := time.NewTimer(binaryStartTimeout)
	defer timer.Stop()
	select {
	case b.addr = <-w.addr:
		return b, nil
	case <-b.exited:
		return nil, fmt.Errorf("%s exited (%v) without saying it was listening; %s", path, b.waitErr, w.lastLines())
	case <-timer.C:
		b.abort()
		return nil, fmt.Errorf("%s did not say it was listening within %v; %s", path, binaryStartTimeout, w.lastLines())
	}
}

func (b *proxyBinary) address() string { return b.addr }

// usage reads the binary's CPU time and memory from /proc. MaxRSSKB is the
// largest VmHWM read so far: resetPeak reads it before each reset, so it
// is the lifetime peak, which getrusage cannot give for a running child.
func (b *proxyBinary) usage() (procUsage, error) {
	select {
	case <-b.exited:
		return procUsage{}, fmt.Errorf("the alter binary exited during the run (%v); %s", b.waitErr, b.stderr.lastLines())
	default:
	}
	dir := fmt.Sprintf("/proc/%d/", b.cmd.Process.Pid)
	stat, err := os.ReadFile(dir + "stat")
	if err != nil {
		return procUsage{}, err
	}
	var u procUsage
	if u.CPU, err = statCPU(stat, b.clkTck); err != nil {
		return procUsage{}, err
	}
	if err := readVm(dir+"status", &u); err != nil {
		return procUsage{}, err
	}
	b.maxHWM = max(b.maxHWM, u.PeakRSSKB)
	u.MaxRSSKB = b.maxHWM
	return u, nil
}

// resetPeak sets the binary's VmHWM back to its RSS, as the child does for
// itself. The binary makes itself non-dumpable, which leaves clear_refs
// writable by root only; elsewhere the peaks are peaks since start, and
// the bench says so once.
func (b *proxyBinary) resetPeak() error {
	if _, err := b.usage(); err != nil {
		return err
	}
	err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", b.cmd.Process.Pid), []byte("5"), 0)
	if err != nil && !b.warned {
		b.warned = true
		fmt.Fprintf(b.progress, "alter-bench: cannot reset the binary's peak RSS (%v): per-cell peaks are peaks since it started\n", err)
	}
	return nil
}

// stop sends SIGTERM, so the binary drains and flushes its audit log, and
// waits for it, killing it after 15 s.
func (b *proxyBinary) stop() error {
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		b.abort()
		return err
	}
	timer := time.NewTimer(15 * time.Second)
	defer timer.Stop()
	select {
	case <-b.exited:
		if b.waitErr != nil {
			return fmt.Errorf("the alter binary exited with %v; %s", b.waitErr, b.stderr.lastLines())
		}
		return nil
	case <-timer.C:
		b.abort()
		return errors.New("the alter binary did not exit within 15s of SIGTERM; killed")
	}
}

// abort kills the binary and waits until it is reaped.
func (b *proxyBinary) abort() {
	_ = b.cmd.Process.Kill()
	<-b.exited
}

// statCPU returns utime+stime from a /proc/<pid>/stat line. The command
// name (field 2) is in parentheses and may itself hold spaces and
// parentheses, so fields are counted from the last ')'.
func statCPU(stat []byte, clkTck int64) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / time.Duration(clkTck), nil
}

// clockTicks is the unit of /proc/<pid>/stat's times, sysconf(_SC_CLK_TCK).
// The kernel hands it to every process in the auxiliary vector, so reading
// it costs nothing; where that vector is unavailable, 100 Hz, the value on
// every common Linux architecture, stands in.
func clockTicks() int64 {
	const atClkTck = 17 // AT_CLKTCK in <elf.h>; x/sys/unix does not name it
	if av, err := unix.Auxv(); err == nil {
		for _, kv := range av {
			if kv[0] == atClkTck && kv[1] > 0 {
				return int64(kv[1])
			}
		}
	}
	return 100
}

// listeningPrefix starts the line runProxy prints once it serves:
// "alter proxy listening on ADDR (admin ...); CA for clients: ...".
const listeningPrefix = "alter proxy listening on "

// stderrWatch is the binary's stderr. It forwards every line to the
// progress writer, keeps the last few for error messages and sends the
// listening address on addr once.
type stderrWatch struct {
	out   io.Writer
	addr  chan string // buffered: the one send never blocks
	mu    sync.Mutex
	buf   []byte   // a line not yet ended
	tail  []string // the last tailLines lines
	found bool
}

const tailLines = 20

func (w *stderrWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.line(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		// No log line is this long; do not hold an endless one.
		w.line(string(w.buf))
		w.buf = nil
	}
	return len(p), nil
}

// flush passes on a last line the binary did not end.
func (w *stderrWatch) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(string(w.buf))
		w.buf = nil
	}
}

func (w *stderrWatch) line(s string) {
	fmt.Fprintln(w.out, s)
	w.tail = append(w.tail, s)
	if len(w.tail) > tailLines {
		w.tail = w.tail[1:]
	}
	if rest, ok := strings.CutPrefix(s, listeningPrefix); ok && !w.found {
		w.found = true
		addr, _, _ := strings.Cut(rest, " ")
		w.addr <- addr
	}
}

// lastLines describes the binary's last stderr lines for an error message.
func (w *stderrWatch) lastLines() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.tail) == 0 && len(w.buf) == 0 {
		return "it wrote nothing on stderr"
	}
	lines := append(append([]string{}, w.tail...), string(w.buf))
	return "its last stderr lines:\n" + strings.TrimRight(strings.Join(lines, "\n"), "\n")
}
