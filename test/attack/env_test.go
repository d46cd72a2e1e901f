package attack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testbin"
)

// Names the suite pins with upstream.resolve. The good upstream answers
// for the names grants allow; the evil upstreams stand behind every name an
// attack tries to steer the credential to, so a slip shows up as bytes there.
var (
	goodNames = []string{"api.attack.test", "x.wild.attack.test", "y.wild.attack.test", "q.attack.test", "sigv4.attack.test"}
	evilNames = []string{
		"evil.attack.test", "api.attack.test.evil.test", "evilapi.attack.test", "api-attack.test",
		"xn--pi-7kc.attack.test", // "аpi" with a Cyrillic а
		"a.b.wild.attack.test", "wild.attack.test", "api.attack.tes", "pi.attack.test",
	}
)

// envOpts are the few config knobs a group changes.
type envOpts struct {
	listenHost    string              // default 127.0.0.1
	mitmHosts     string              // default auto
	leafCache     int                 // mitm.leaf_cache_size; 0: default
	allowPrivate  string              // YAML list; default []
	maxSignedBody string              // default: unset
	cache         string              // store.cache; default: unset
	passthrough   string              // default allow
	scrubEcho     string              // scrub_echo; default: unset (headers)
	timeouts      string              // timeouts flow mapping; default: unset
	pollInterval  string              // store.poll_interval; default 100ms
	upstreamProxy func(e *env) string // upstream.proxy, once the upstreams run; default none
	setup         func(e *env)
}

// env is one running proxy with its home, upstreams and sentinel secret.
type env struct {
	t          *testing.T
	dir, home  string
	cfgPath    string
	auditPath  string
	proxyAddr  string
	adminAddr  string
	stderr     *testbin.SyncBuffer
	stdout     *testbin.SyncBuffer
	sentinel   string
	good, evil *upstream // TLS
	plain      *upstream // plain HTTP, http://plain.attack.test:80
	evilPlain  *upstream // plain HTTP behind the evil names on port 80
	trap       *upstream // HTTP(S)_PROXY in the proxy's environment
	upCA       *upstreamCA
	pins       map[string]string
	grants     map[string]string // name -> grant id
}

func newSentinel() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "SnTl" + hex.EncodeToString(b)
}

// secret is the sentinel with a tag, so every grant's secret is distinct
// and a search for the sentinel finds any of them.
func (e *env) secret(tag string) string { return e.sentinel + tag }

// startEnv initialises a home, starts the upstreams, writes the config, runs
// opts.setup (which adds grants with the CLI) and starts `alter proxy`.
func startEnv(t *testing.T, opts envOpts) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, home: filepath.Join(dir, "home"), stderr: &testbin.SyncBuffer{}, stdout: &testbin.SyncBuffer{},
		sentinel: newSentinel(), pins: map[string]string{}, grants: map[string]string{}}
	if _, err := e.alter("", "init"); err != nil {
		t.Fatal(err)
	}
	e.upCA = newUpstreamCA(t, dir, "trusted")
	e.good = startUpstream(t, "good", e.upCA.forSNI())
	e.evil = startUpstream(t, "evil", e.upCA.forSNI())
	e.plain = startUpstream(t, "plain", nil)
	e.evilPlain = startUpstream(t, "evil-plain", nil)
	e.trap = startUpstream(t, "env-proxy-trap", nil)
	for _, n := range goodNames {
		e.pins[n+":443"] = e.good.addr
	}
	e.pins["plain.attack.test:80"] = e.plain.addr
	for _, n := range evilNames {
		e.pins[n+":443"] = e.evil.addr
		e.pins[n+":8443"] = e.evil.addr
		e.pins[n+":80"] = e.evilPlain.addr
	}
	e.pins["api.attack.test:8443"] = e.evil.addr
	e.pins["api.attack.test:80"] = e.evilPlain.addr
	if opts.setup != nil {
		opts.setup(e)
	}
	e.writeConfig(opts)
	e.start(opts)
	t.Cleanup(e.checkNoLeak)
	return e
}

func (e *env) writeConfig(o envOpts) {
	host := o.listenHost
	if host == "" {
		host = "127.0.0.1"
	}
	var pins []string
	for k, v := range e.pins {
		pins = append(pins, fmt.Sprintf("    %q: %q", k, v))
	}
	sort.Strings(pins)
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nlisten: %s:0\nadmin_listen: %s:0\n", host, host)
	fmt.Fprintf(&b, "store: {path: %q, key_file: %q, poll_interval: %s%s}\n", e.home+"/grants.json", e.home+"/master.key", orDefault(o.pollInterval, "100ms"), orEmpty(", cache: ", o.cache))
	fmt.Fprintf(&b, "mitm: {ca_cert: %q, ca_key: %q, hosts: %s%s}\n", e.home+"/ca.pem", e.home+"/ca-key.pem", orDefault(o.mitmHosts, "auto"), orEmpty(", leaf_cache_size: ", itoaIf(o.leafCache)))
	fmt.Fprintf(&b, "passthrough: %s\n", orDefault(o.passthrough, "allow"))
	if o.timeouts != "" {
		fmt.Fprintf(&b, "timeouts: %s\n", o.timeouts)
	}
	if o.scrubEcho != "" {
		fmt.Fprintf(&b, "scrub_echo: %s\n", o.scrubEcho)
	}
	if o.maxSignedBody != "" {
		fmt.Fprintf(&b, "max_signed_body: %s\n", o.maxSignedBody)
	}
	fmt.Fprintf(&b, "upstream:\n  ca_file: %q\n  dial_timeout: 3s\n  response_header_timeout: 5s\n  allow_private: %s\n  resolve:\n%s\n",
		e.upCA.pemPath, orDefault(o.allowPrivate, "[]"), strings.Join(pins, "\n"))
	if o.upstreamProxy != nil {
		fmt.Fprintf(&b, "  proxy: %q\n", o.upstreamProxy(e))
	}
	e.auditPath = filepath.Join(e.dir, "audit.log")
	// Debug logging: the most a log could ever say is what must not leak.
	fmt.Fprintf(&b, "audit: {path: %q}\nlog: {level: debug}\n", e.auditPath)
	e.cfgPath = filepath.Join(e.dir, "config.yaml")
	if err := os.WriteFile(e.cfgPath, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

var listeningRE = regexp.MustCompile(`listening on (\S+) \(admin (\S+)\)`)

func (e *env) start(o envOpts) {
	if !e.tryStart() {
		e.t.Fatalf("proxy did not start: %s", e.stderr.String())
	}
}

// tryStart runs the proxy and reports whether it started listening; a
// proxy that exits with an error reports false.
func (e *env) tryStart() bool {
	t := e.t
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, alterBin, "--home", e.home, "proxy", "--config", e.cfgPath)
	// The environment's proxy variables point at a trap: injected
	// requests must never follow them.
	trap := "http://" + e.trap.addr
	cmd.Env = append(os.Environ(), "HTTPS_PROXY="+trap, "HTTP_PROXY="+trap, "ALL_PROXY="+trap,
		"https_proxy="+trap, "http_proxy="+trap, "NO_PROXY=", "no_proxy=")
	cmd.Stdout, cmd.Stderr = e.stdout, e.stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cancel(); <-exited })
	m, err := e.stderr.WaitFor(listeningRE, exited)
	if err != nil {
		return false
	}
	e.proxyAddr, e.adminAddr = m[1], m[2]
	return true
}

// alter runs the CLI against this env's home and returns its stdout.
func (e *env) alter(stdin string, args ...string) (string, error) {
	cmd := exec.Command(alterBin, append([]string{"--home", e.home}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("alter %v: %v: %s", args, err, errOut.String())
	}
	if strings.Contains(errOut.String(), e.sentinel) || strings.Contains(out.String(), e.sentinel) {
		e.t.Errorf("LEAK: alter %v printed the secret", args)
	}
	return out.String(), nil
}

// addGrant stores secret(tag) with the given flags and remembers its id.
func (e *env) addGrant(tag string, args ...string) string {
	e.t.Helper()
	out, err := e.alter(e.secret(tag), append([]string{"secret", "add", "--name", tag}, args...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	id := strings.TrimSpace(out)
	e.grants[tag] = id
	return id
}

func (e *env) metrics() string {
	resp, err := http.Get("http://" + e.adminAddr + "/metrics")
	if err != nil {
		e.t.Errorf("metrics: %v", err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metric returns the value of an unlabelled metric line.
func (e *env) metric(name string) string { return testbin.MetricValue(e.metrics(), name) }

// checkNoLeak runs when the group ends: the sentinel must be in no log,
// audit record or metric, and the environment's proxy was never used.
func (e *env) checkNoLeak() {
	audit, _ := os.ReadFile(e.auditPath)
	for where, text := range map[string]string{
		"proxy stderr": e.stderr.String(), "proxy stdout": e.stdout.String(),
		"audit file": string(audit), "/metrics": e.metrics(),
	} {
		if strings.Contains(text, e.sentinel) {
			e.t.Errorf("LEAK: the secret is in the %s", where)
		}
	}
	if n := e.trap.bytes.Load(); n != 0 {
		e.t.Errorf("the proxy sent %d bytes to the HTTPS_PROXY from its environment", n)
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func orEmpty(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func itoaIf(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}
