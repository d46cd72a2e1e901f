package main

// The attack review of alter server's admin listener (admin_listen:
// /metrics, /healthz, /readyz in plain HTTP without a token): an adversary
// who reaches the port, a hostile SIEM receiver, a hostile or mistaken
// server.yaml. This file holds the helpers and what held; the fixes'
// tests are in the other *_attack_test.go files beside it.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/alter-sidecar/alter/audit/forward"
	"github.com/alter-sidecar/alter/internal/testbin"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/serverconfig"
	"github.com/alter-sidecar/alter/server/storage"
)

// adminRun is an alter server running in process with admin_listen.
type adminRun struct {
	api, admin    string
	db            *storage.DB
	log, announce *testbin.SyncBuffer
	cancel        context.CancelFunc
	exited        chan struct{} // closed when runServer has returned err
	err           error
}

// startAdminServer runs runServer on home's config with admin_listen on
// a free loopback port (edit may change that), logging at debug level
// into r.log.
func startAdminServer(t *testing.T, home string, files serverFiles, edit func(*serverconfig.Config)) *adminRun {
	t.Helper()
	a := &app{stderr: io.Discard, homeFlag: home}
	cfg, _, err := a.loadServerConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.AdminListen, cfg.ShutdownTimeout = "127.0.0.1:0", "127.0.0.1:0", 5*time.Second
	if edit != nil {
		edit(&cfg)
	}
	db, err := a.openServerDB(context.Background(), cfg, home)
	if err != nil {
		t.Fatal(err)
	}
	r := &adminRun{db: db, log: &testbin.SyncBuffer{}, announce: &testbin.SyncBuffer{}}
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(r.log), zapcore.DebugLevel))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.exited = cancel, make(chan struct{})
	go func() {
		defer close(r.exited)
		r.err = runServer(ctx, cfg, files, db, log, r.announce)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.exited
		db.Close()
	})
	for _, w := range []struct {
		re   *regexp.Regexp
		addr *string
	}{{serverAdminRE, &r.admin}, {serverListenRE, &r.api}} {
		m, err := r.announce.WaitFor(w.re, r.exited)
		if err != nil {
			select {
			case <-r.exited:
				t.Fatalf("runServer: %v", r.err)
			default:
			}
			t.Fatal(err)
		}
		*w.addr = m[1]
	}
	return r
}

var serverListenRE = regexp.MustCompile(`alter server listening on (\S+) `)

// stop ends the server and returns runServer's error.
func (r *adminRun) stop() error {
	r.cancel()
	<-r.exited
	return r.err
}

// get does one request on the admin listener and returns the status and
// the body.
func (r *adminRun) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + r.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// waitUntil polls ok: a scrape has no event to wait on.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(testbin.StartTimeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scrapeConcurrently scrapes base+"/metrics" from 4 goroutines until
// the stop it returns is called, failing t on an exposition that does not
// parse (run with -race: the scrapes read what the forwarders write).
func scrapeConcurrently(t *testing.T, base string) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := testutil.ScrapeAndCompare(base+"/metrics", strings.NewReader(""), "no_such_metric"); err != nil {
					t.Errorf("scrape: %v", err) // a parse error of the exposition shows here
					return
				}
			}
		})
	}
	return func() {
		close(done)
		wg.Wait()
	}
}

func adminToken(t *testing.T, home, name string) string {
	t.Helper()
	var out, errOut strings.Builder
	if code := run([]string{"--home", home, "server", "token", "create", "--kind", "admin", "--name", name}, nil, &out, &errOut); code != 0 {
		t.Fatalf("token create: %d %s", code, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// TestServerAdminAttackReachesOnlyItsRoutes: the admin listener is not a
// way around the API's tokens or the portal's login: with an admin
// token, a portal path, an absolute URL naming the API or a CONNECT to
// it, every request but the three GETs gets net/http's 404 or 405.
func TestServerAdminAttackReachesOnlyItsRoutes(t *testing.T) {
	home := t.TempDir()
	token := adminToken(t, home, "ops")
	r := startAdminServer(t, home, serverFiles{}, nil)

	for _, tc := range []struct {
		name, raw string
		want      int
	}{
		{"API route with an admin token", "GET /v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\n\r\n", 404},
		{"sidecar route", "GET /v1/sidecar/policies HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"portal", "GET /portal/login HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"approval link", "GET /approvals/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"root", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"pprof", "GET /debug/pprof/ HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"absolute URL naming the API", "GET http://" + r.api + "/v1/tokens HTTP/1.1\r\nHost: " + r.api + "\r\nAuthorization: Bearer " + token + "\r\n\r\n", 404},
		{"Host header naming the API", "GET /v1/tokens HTTP/1.1\r\nHost: " + r.api + "\r\nAuthorization: Bearer " + token + "\r\n\r\n", 404},
		{"CONNECT to the API", "CONNECT " + r.api + " HTTP/1.1\r\nHost: " + r.api + "\r\n\r\n", 404},
		{"POST to /metrics", "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405},
		{"dot segments to the API", "GET /metrics/../v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\n\r\n", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", r.admin)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusTemporaryRedirect || resp.StatusCode == http.StatusMovedPermanently {
				// ServeMux answers "/metrics/../v1/tokens" with a redirect
				// to the clean path; follow it to see it lands nowhere.
				loc := resp.Header.Get("Location")
				if code, _ := r.get(t, loc); code != 404 {
					t.Fatalf("redirect to %s: %d, want 404", loc, code)
				}
				return
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if s := string(body); strings.Contains(s, "{") || strings.Contains(s, "<") {
				t.Fatalf("the answer looks like the API's or the portal's: %q", s)
			}
		})
	}
}

// TestServerAdminAttackNoSecretInAnyAnswer: nothing the admin listener
// answers, and nothing the server logs meanwhile, holds the database's
// password, the webhook URL's token, the HMAC key or an admin token, on
// either engine, with a hostile receiver that refuses every batch and
// echoes what it got, one nobody listens for, and with the database gone (/readyz's 503 says no
// more than "not ready").
func TestServerAdminAttackNoSecretInAnyAnswer(t *testing.T) {
	const (
		dbPassword = "db-pa55word-never-shown"
		urlToken   = "url-t0ken-never-shown"
		hmacKey    = "hmac-key-never-shown-0123456789"
	)
	for _, eng := range testdb.Engines() {
		t.Run(eng.Name, func(t *testing.T) {
			dbURL := eng.Fresh(t)
			if eng.Name == "postgres" {
				// The test database trusts local connections, so a
				// password in the address is carried and never checked.
				u, err := url.Parse(dbURL)
				if err != nil {
					t.Fatal(err)
				}
				u.User = url.UserPassword(u.User.Username(), dbPassword)
				dbURL = u.String()
			}
			home := t.TempDir()
			if err := os.WriteFile(filepath.Join(home, "server.yaml"), []byte("version: 1\ndatabase_url: '"+dbURL+"'\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			token := adminToken(t, home, "ops")
			// The receiver refuses everything and echoes the request back.
			receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprintf(w, "%s %v", req.URL, req.Header)
			}))
			defer receiver.Close()
			keyFile := filepath.Join(t.TempDir(), "hook.key")
			if err := os.WriteFile(keyFile, []byte(hmacKey), 0o600); err != nil {
				t.Fatal(err)
			}
			// A second target nobody listens for: net/http's errors name
			// the URL they failed on.
			targets, err := forward.Targets("audit.forward", []forward.Config{
				{Name: "siem", Type: forward.TypeWebhook, URL: receiver.URL + "/hook/" + urlToken + "?key=" + urlToken, SecretFile: keyFile},
				{Name: "dead", Type: forward.TypeWebhook, URL: "http://127.0.0.1:1/hook/" + urlToken + "?key=" + urlToken, SecretFile: keyFile},
			})
			if err != nil {
				t.Fatal(err)
			}
			r := startAdminServer(t, home, serverFiles{forward: targets}, func(c *serverconfig.Config) { c.DatabaseURL = dbURL })
			waitUntil(t, "both targets' failures to show", func() bool {
				return testbin.Metric(t, r.admin, `alter_audit_forward_failing{target="siem"}`) == "1" &&
					testbin.Metric(t, r.admin, `alter_audit_forward_failing{target="dead"}`) == "1"
			})

			var answers []string
			for _, p := range []string{"/metrics", "/healthz", "/readyz", "/nowhere", "/v1/tokens"} {
				code, body := r.get(t, p)
				answers = append(answers, fmt.Sprintf("%s %d %s", p, code, body))
			}
			r.db.Close() // /readyz's ping now fails, once its last answer is stale
			var body string
			waitUntil(t, "/readyz to see the database gone", func() bool {
				var code int
				code, body = r.get(t, "/readyz")
				return code == http.StatusServiceUnavailable
			})
			if body != "not ready: store or audit log unavailable\n" {
				t.Errorf("/readyz without a database: %q, want the fixed text", body)
			}
			answers = append(answers, body)
			if err := r.stop(); err != nil {
				t.Logf("runServer: %v", err) // the closed database may fail the stop; only its words matter
				answers = append(answers, err.Error())
			}
			for what, s := range map[string]string{"an answer": strings.Join(answers, "\n"), "the log": r.log.String(), "the announcement": r.announce.String()} {
				for name, secret := range map[string]string{"the database password": dbPassword, "the URL's token": urlToken,
					"the HMAC key": hmacKey, "the admin token": token} {
					if strings.Contains(s, secret) {
						t.Errorf("%s holds %s", what, name)
					}
				}
			}
		})
	}
}

// TestServerAdminAttackIPv6: admin_listen on [::1] serves, and the
// announced address is one a client can dial.
func TestServerAdminAttackIPv6(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	r := startAdminServer(t, t.TempDir(), serverFiles{}, func(c *serverconfig.Config) { c.AdminListen = "[::1]:0" })
	if !strings.HasPrefix(r.admin, "[::1]:") {
		t.Fatalf("announced admin address %q", r.admin)
	}
	if code, body := r.get(t, "/readyz"); code != 200 {
		t.Fatalf("/readyz over IPv6: %d %q", code, body)
	}
}

// TestServerAdminAttackTargetNames: label values are target names, which
// the config keeps to 1-32 of [a-z0-9_-], so no name can break the
// exposition or carry a URL; the longest and oddest allowed names come
// out as valid Prometheus text, scraped while records are forwarded and
// written (run with -race: the forwarder and the scrapes share state).
func TestServerAdminAttackTargetNames(t *testing.T) {
	for _, name := range []string{`siem"} 1`, "siem\nx 1", "SIEM", "siem.eu", "a/b", "https://siem.example/?key=k", "-siem",
		strings.Repeat("a", 33), "sïem", ""} {
		yaml := fmt.Sprintf("version: 1\naudit:\n  forward:\n    - {name: %q, type: webhook, url: 'http://127.0.0.1:1/h', secret_env: X}\n", name)
		_, err := serverconfig.Parse([]byte(yaml), t.TempDir(), t.TempDir(), func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "audit.forward[0].name") {
			t.Errorf("target name %q: %v, want refused at audit.forward[0].name", name, err)
		}
	}

	home := t.TempDir()
	names := []string{"0", "siem-eu_1", strings.Repeat("z", 32)}
	stubs := make([]*siemStub, len(names))
	var targets []forward.Target
	for i, n := range names {
		stubs[i] = &siemStub{}
		targets = append(targets, forward.Target{Name: n, Sender: stubs[i]})
	}
	r := startAdminServer(t, home, serverFiles{forward: targets}, nil)
	stopScrapes := scrapeConcurrently(t, "http://"+r.admin)
	for i := range 5 {
		adminToken(t, home, fmt.Sprintf("ops%d", i))
	}
	waitUntil(t, "every target to get every record", func() bool {
		for i, n := range names {
			if got := testbin.Metric(t, r.admin, `alter_audit_forward_records_total{target="`+n+`"}`); got != "5" || stubs[i].received() != 5 {
				return false
			}
		}
		return true
	})
	stopScrapes()
	var want strings.Builder
	want.WriteString("# HELP alter_audit_forward_holding 1 while this replica holds the forward target's lease (it is the one sending), else 0.\n# TYPE alter_audit_forward_holding gauge\n")
	for _, n := range names {
		fmt.Fprintf(&want, "alter_audit_forward_holding{target=%q} 1\n", n)
	}
	if err := testutil.ScrapeAndCompare("http://"+r.admin+"/metrics", strings.NewReader(want.String()), "alter_audit_forward_holding"); err != nil {
		t.Fatal(err)
	}
}
