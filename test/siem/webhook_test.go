package siem

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/audit/ship"
	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/internal/testbin"
)

var alterBin, receiverBin string

func TestMain(m *testing.M) {
	os.Exit(testbin.Main(m, &alterBin, func(dir string) error {
		receiverBin = filepath.Join(dir, "receiver")
		out, err := exec.Command("go", "build", "-o", receiverBin, "github.com/alter-sidecar/alter/test/siem/internal/receiver").CombinedOutput()
		if err != nil {
			return fmt.Errorf("go build receiver: %v\n%s", err, out)
		}
		return nil
	}))
}

const host = "api.example.test"

func random(tag string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return tag + hex.EncodeToString(b)
}

// eventually polls cond until it holds, failing after testbin.StartTimeout:
// it waits for an observable outcome, never a fixed time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(2 * testbin.StartTimeout)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiverProc is one run of the receiver.
type receiverProc struct {
	*testbin.Proc
	addr string
}

// startReceiver runs the receiver on addr ("127.0.0.1:0" the first time,
// the same address after a kill) with its files in out, and more of its
// flags (-delay).
func startReceiver(t *testing.T, addr, keyFile, out string, holdAfter int, flags ...string) *receiverProc {
	t.Helper()
	cmd := exec.Command(receiverBin, append([]string{"-addr", addr, "-key", keyFile, "-out", out, "-hold-after", fmt.Sprint(holdAfter)}, flags...)...)
	p := testbin.Start(t, cmd)
	return &receiverProc{Proc: p, addr: p.WaitListening(t, p.Out)}
}

func (r *receiverProc) kill(t *testing.T) {
	t.Helper()
	_ = r.Cmd.Process.Signal(syscall.SIGKILL)
	<-r.Exited
}

// sidecar is a home with one grant over a local stand-in for host, and
// the alter proxy running on it.
type sidecar struct {
	t                  *testing.T
	dir, home, auditLg string
	proxy              *testbin.Proc
	addr, admin        string // the proxy's and its admin listener's addresses
	secret, grant      string
	upCA, upAddr       string // the stand-in's CA file and address
}

// newSidecar is a sidecar on a local store holding its grant, forwarding
// its audit log to the targets in forwardYAML.
func newSidecar(t *testing.T, forwardYAML string) *sidecar {
	t.Helper()
	s := initSidecar(t)
	s.writeConfig(fmt.Sprintf("store: {path: %q, key_file: %q}", s.home+"/grants.json", s.home+"/master.key"), "  forward:\n"+forwardYAML)
	s.grant = strings.TrimSpace(s.alter("token="+s.secret+"\n", "secret", "add", "--type", "bearer", "--allow-host", host, "--name", "siem-test"))
	return s
}

// initSidecar makes a home and the stand-in for host; writeConfig
// completes the sidecar.
func initSidecar(t *testing.T) *sidecar {
	t.Helper()
	dir := t.TempDir()
	s := &sidecar{t: t, dir: dir, home: filepath.Join(dir, "home"), auditLg: filepath.Join(dir, "audit.log"), secret: random("SnTlcred"),
		upCA: filepath.Join(dir, "up.pem")}
	s.alter("", "init")
	upCA, err := certs.CreateCA(s.upCA, filepath.Join(dir, "up-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := certs.NewLeafCache(upCA, 4).Get(host)
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	up.StartTLS()
	t.Cleanup(up.Close)
	s.upAddr = up.Listener.Addr().String()
	return s
}

// writeConfig writes the sidecar's config with the given store: line(s)
// and more keys of its audit: section (indented by two).
func (s *sidecar) writeConfig(store, auditExtra string) {
	s.t.Helper()
	cfg := fmt.Sprintf(`version: 1
listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
%s
mitm: {ca_cert: %q, ca_key: %q}
upstream:
  ca_file: %q
  resolve: {"%s:443": %q}
audit:
  path: %q
  durable: true
%s
`, store, s.home+"/ca.pem", s.home+"/ca-key.pem", s.upCA, host, s.upAddr, s.auditLg, auditExtra)
	if err := os.WriteFile(filepath.Join(s.home, "config.yaml"), []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sidecar) alter(stdin string, args ...string) string {
	s.t.Helper()
	cmd := exec.Command(alterBin, append([]string{"--home", s.home}, args...)...)
	cmd.Env = testbin.CleanEnv(s.dir)
	cmd.Stdin = strings.NewReader(stdin)
	r := testbin.Run(s.t, cmd)
	if r.Code != 0 {
		s.t.Fatalf("alter %v: exit %d: %s", args, r.Code, r.Stderr)
	}
	return r.Stdout
}

var holdingRE = regexp.MustCompile(`holding (\d+)`)

var listeningAdminRE = regexp.MustCompile(`listening on (\S+) \(admin (\S+)\)`)

func (s *sidecar) start() {
	s.t.Helper()
	cmd := exec.Command(alterBin, "--home", s.home, "proxy")
	cmd.Env = testbin.CleanEnv(s.dir)
	s.proxy = testbin.Start(s.t, cmd)
	m, err := s.proxy.Out.WaitFor(listeningAdminRE, s.proxy.Exited)
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr, s.admin = m[1], m[2]
}

func (s *sidecar) kill() {
	_ = s.proxy.Cmd.Process.Signal(syscall.SIGKILL)
	<-s.proxy.Exited
}

// send makes n requests with the grant through the proxy, four at a time,
// trusting only the proxy's CA.
func (s *sidecar) send(n int) {
	s.t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.home, "ca.pem"))
	if err != nil {
		s.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{Proxy: http.ProxyURL(&url.URL{Scheme: "http", Host: s.addr}), TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://%s/v1/items/%d", host, i), nil)
				req.Header.Set("X-Alter-Grant", s.grant)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("request %d: status %d %s", i, resp.StatusCode, resp.Header.Get("X-Alter-Error"))
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		s.t.Fatal(err)
	}
}

// logIDs are the forwarding ids of every record in the durable log.
func (s *sidecar) logIDs() map[string]bool {
	s.t.Helper()
	files, err := audit.Files(s.auditLg)
	if err != nil {
		s.t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, f := range files {
		entries, bad, err := audit.ReadEntries(f)
		if err != nil || bad != 0 {
			s.t.Fatalf("read %s: %v (%d bad lines)", f, err, bad)
		}
		for _, e := range entries {
			ids[ship.RecordID(e)] = true
		}
	}
	return ids
}

// received is every id the receiver stored, in order, duplicates kept.
func received(t *testing.T, out string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, "ids"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(data))
}

// TestWebhookReceiverKilledMidStream: a webhook receiver that checks every
// signature is SIGKILLed holding a batch it stored but did not answer,
// traffic goes on while it is down, it comes back on the same address;
// then the proxy itself is SIGKILLed and restarted and more traffic
// follows. In the end every record of the durable log is at the receiver,
// exactly once by id once duplicates are dropped, and the only duplicates
// are the unanswered batch's (at least once, and never more than that);
// no request had a bad signature and no forwarded byte holds the secret.
func TestWebhookReceiverKilledMidStream(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "hook.key")
	if err := os.WriteFile(keyFile, []byte(random("hook-key-")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "received")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	const holdAfter = 40
	rcv := startReceiver(t, "127.0.0.1:0", keyFile, out, holdAfter)
	s := newSidecar(t, fmt.Sprintf("    - {name: siem, type: webhook, url: 'http://%s/alter', secret_file: %q, batch: 25}", rcv.addr, keyFile))
	s.start()

	// 1. The receiver dies holding a stored, unanswered batch.
	s.send(100)
	var heldBatch []string
	eventually(t, "the receiver to hold a batch", func() bool {
		heldBatch = holdingRE.FindStringSubmatch(rcv.Out.String())
		return heldBatch != nil
	})
	rcv.kill(t)
	held, _ := strconv.Atoi(heldBatch[1])
	s.send(60) // while the receiver is away
	eventually(t, "the metrics to say forwarding fails", func() bool {
		return testbin.Metric(t, s.admin, `alter_audit_forward_failing{target="siem"}`) == "1"
	})

	// 2. It comes back on the same address; the proxy catches up.
	rcv = startReceiver(t, rcv.addr, keyFile, out, 0)
	eventually(t, "the receiver to catch up", func() bool { return sameSet(s.logIDs(), uniq(received(t, out))) })

	// 3. The proxy is killed mid-stream and restarted.
	s.send(40)
	s.kill()
	s.start()
	s.send(60)
	// The log is read before the receiver's file, so a record written
	// between the two reads shows as a difference and the wait goes on.
	var want map[string]bool
	var got []string
	eventually(t, "every record at the receiver", func() bool {
		want, got = s.logIDs(), received(t, out)
		return sameSet(want, uniq(got))
	})

	// Caught up: the target's forwarded seq is the log's last.
	eventually(t, "the metrics to say the target caught up", func() bool {
		written := testbin.Metric(t, s.admin, "alter_audit_written_seq")
		return written != "" && written != "0" && testbin.Metric(t, s.admin, `alter_audit_forward_seq{target="siem"}`) == written &&
			testbin.Metric(t, s.admin, `alter_audit_forward_failing{target="siem"}`) == "0"
	})

	dups := len(got) - len(uniq(got))
	t.Logf("%d records in the durable log, %d deliveries, %d duplicates (the batch held at the kill had %d records)",
		len(want), len(got), dups, held)
	// The duplicates are the held batch (resent after the kill) and at
	// most one batch in flight when the proxy was killed.
	if dups < held || dups > held+25 {
		t.Errorf("%d duplicates, want the held batch's %d plus at most one batch of 25", dups, held)
	}
	if bad, _ := os.ReadFile(filepath.Join(out, "bad")); len(bad) != 0 {
		t.Errorf("requests with a bad signature:\n%s", bad)
	}
	raw, _ := os.ReadFile(filepath.Join(out, "raw"))
	key, _ := os.ReadFile(keyFile)
	for what, secret := range map[string]string{"the credential": s.secret, "the HMAC key": strings.TrimSpace(string(key))} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("LEAK: %s is in a forwarded byte", what)
		}
	}
	if !strings.Contains(string(raw), s.grant) {
		t.Error("the forwarded records do not name the grant: the leak check above proves nothing")
	}
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for id := range a {
		if !b[id] {
			return false
		}
	}
	return true
}

func uniq(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}
