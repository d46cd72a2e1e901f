package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testnet"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// Every secret in these tests is a unique sentinel; env.assertNoLeak looks
// for it everywhere but the upstream's own view of the request.
const sentinel = "sentinel-proxy-4b1d9e07c2"

// fakeStore is an in-memory Resolver so these tests exercise the proxy
// alone; the file store has its own tests, and the CLI tests join the two.
type fakeStore struct {
	mu      sync.Mutex
	grants  map[string]*secretstore.Resolved
	unavail map[string]bool // revoked or expired, as the store would report
	broken  bool
	panics  bool // Resolve panics, to test per-request recovery
}

func (s *fakeStore) Resolve(_ context.Context, id string, _ time.Time) (*secretstore.Resolved, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.panics {
		panic("store bug holding " + sentinel)
	}
	if s.broken {
		return nil, secretstore.ErrStoreUnavailable
	}
	r, ok := s.grants[id]
	if !ok || s.unavail[id] {
		return nil, secretstore.ErrGrantUnavailable
	}
	return r, nil
}

func (s *fakeStore) Policies() []*policy.Policy {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*policy.Policy
	for id, r := range s.grants {
		if !s.unavail[id] {
			out = append(out, r.Policy)
		}
	}
	return out
}

// upstreamView is what the echoing upstream saw.
type upstreamView struct {
	Method  string              `json:"method"`
	Host    string              `json:"host"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Headers map[string][]string `json:"headers"`
	TLS     bool                `json:"tls"`
}

// upstream is a local server standing in for a real API host.
type upstream struct {
	srv  *httptest.Server
	hits atomic.Int64
	// bytes counts every byte any client sent to the upstream's listener,
	// so a test can prove that a refused request sent nothing at all.
	bytes atomic.Int64
}

func echoHandler(u *upstream) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		view := upstreamView{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, Headers: r.Header, TLS: r.TLS != nil}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Alter-Grant", "upstream-imitation")
		w.Header().Set("x-alter-error", "none")
		_ = json.NewEncoder(w).Encode(view)
	})
}

// env is one proxy with its CA, store, audit sink and upstreams.
type env struct {
	t        testing.TB
	store    *fakeStore
	audit    *audit.MemorySink
	logs     *observer.ObservedLogs
	proxy    *Proxy
	proxySrv *testServer
	caPool   *x509.CertPool
	upCA     *certs.CA
	upLeaves *certs.LeafCache
	resolve  map[string]string
	roots    *x509.CertPool
}

type envOption func(*Options)

// testServer is a proxy Server on a loopback port the OS chose.
type testServer struct {
	URL      string
	Listener net.Listener
	srv      *Server
	served   chan error
}

// startTestServer serves srv on ln, or on a new 127.0.0.1 listener.
func startTestServer(t testing.TB, srv *Server, ln net.Listener) *testServer {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	ts := &testServer{URL: "http://" + ln.Addr().String(), Listener: ln, srv: srv, served: make(chan error, 1)}
	go func() { ts.served <- srv.Serve(ln) }()
	return ts
}

func (ts *testServer) Close() {
	_ = ts.srv.Close()
	<-ts.served
}

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	dir := t.TempDir()
	mitmCA, err := certs.CreateCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	upCA, err := certs.CreateCA(filepath.Join(dir, "up.pem"), filepath.Join(dir, "up-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: &fakeStore{grants: map[string]*secretstore.Resolved{}, unavail: map[string]bool{}},
		audit: audit.NewMemorySink(), upCA: upCA, upLeaves: certs.NewLeafCache(upCA, 16), resolve: map[string]string{}}
	e.caPool = x509.NewCertPool()
	e.caPool.AddCert(mitmCA.Certificate())
	e.roots = x509.NewCertPool()
	e.roots.AddCert(upCA.Certificate())
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	o := Options{
		Store: e.store, Leaves: certs.NewLeafCache(mitmCA, 64), Audit: e.audit, Log: zap.New(core),
		MITM: MITMMode{Auto: true}, Passthrough: true, Identity: "test",
		Upstream: UpstreamOptions{RootCAs: e.roots, Resolve: e.resolve, DialTimeout: 5 * time.Second, ResponseHeaderTimeout: 5 * time.Second,
			HTTP2: netHTTPTests},
		DisableFastPath: netHTTPTests,
	}
	for _, opt := range opts {
		opt(&o)
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.proxy = p
	e.proxySrv = startTestServer(t, NewServer(p), nil)
	t.Cleanup(func() {
		e.proxySrv.Close()
		p.CloseIdleConnections()
	})
	return e
}

// tlsUpstream starts a TLS upstream for host (a name it poses as, pinned
// with upstream.resolve) and returns it.
func (e *env) tlsUpstream(host string, h http.Handler) *upstream {
	e.t.Helper()
	u := &upstream{}
	if h == nil {
		h = echoHandler(u)
	}
	srv := httptest.NewUnstartedServer(h)
	leaf, err := e.upLeaves.Get(host)
	if err != nil {
		e.t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}}
	srv.Listener = testnet.CountingListener{Listener: srv.Listener, N: &u.bytes}
	srv.StartTLS()
	u.srv = srv
	e.t.Cleanup(srv.Close)
	e.resolve[host+":443"] = srv.Listener.Addr().String()
	return u
}

// plainUpstream starts a plain-HTTP upstream pinned as host:port.
func (e *env) plainUpstream(hostport string) *upstream {
	u := &upstream{}
	srv := httptest.NewUnstartedServer(echoHandler(u))
	srv.Listener = testnet.CountingListener{Listener: srv.Listener, N: &u.bytes}
	srv.Start()
	u.srv = srv
	e.t.Cleanup(srv.Close)
	e.resolve[hostport] = srv.Listener.Addr().String()
	return u
}

// addGrant stores a grant with a bearer token for the destinations.
func (e *env) addGrant(id string, spec inject.Spec, fields inject.Fields, destinations ...string) {
	e.t.Helper()
	pol, err := policy.Compile(policy.Spec{Destinations: destinations})
	if err != nil {
		e.t.Fatal(err)
	}
	in, err := inject.Compile(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	e.store.mu.Lock()
	defer e.store.mu.Unlock()
	e.store.grants[id] = &secretstore.Resolved{
		Grant:  secretstore.Grant{ID: id, Name: "test-" + id[:4], Policy: policy.Spec{Destinations: destinations}},
		Secret: secretstore.SecretInfo{Spec: spec}, Policy: pol, Injector: in, Fields: fields,
	}
}

// client returns an HTTP client that uses the proxy and trusts only our CA.
func (e *env) client() *http.Client {
	proxyURL, _ := url.Parse(e.proxySrv.URL)
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             http.ProxyURL(proxyURL),
			TLSClientConfig:   &tls.Config{RootCAs: e.caPool},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       20 * time.Second,
	}
}

func (e *env) do(method, rawURL string, header http.Header) (*http.Response, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := e.client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get(HeaderError) != "" || !strings.Contains(string(body), `"headers"`) {
		// Only the echoing upstream may repeat the credential it received.
		e.assertNoLeak(string(body), "response body")
	}
	for k, vs := range resp.Header {
		e.assertNoLeak(k+": "+strings.Join(vs, ","), "response header")
	}
	return resp, body
}

// assertNoLeak fails the test if s carries the sentinel secret.
func (e *env) assertNoLeak(s, where string) {
	e.t.Helper()
	if strings.Contains(s, sentinel) || strings.Contains(s, "c2VudGluZWwtcHJveHkt") {
		e.t.Fatalf("the secret leaked into the %s: %s", where, s)
	}
}

// checkLogsAndAudit asserts that no log entry and no audit record carries the secret.
func (e *env) checkLogsAndAudit() {
	e.t.Helper()
	for _, entry := range e.logs.All() {
		js, _ := json.Marshal(entry.ContextMap())
		e.assertNoLeak(entry.Message+string(js), "log")
	}
	for _, r := range e.audit.Records() {
		js, _ := json.Marshal(r)
		e.assertNoLeak(string(js), "audit record")
	}
}

func decodeView(t *testing.T, body []byte) upstreamView {
	t.Helper()
	var v upstreamView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("upstream answer is not the echo: %v: %s", err, body)
	}
	return v
}

// waitAudit waits until n audit records exist (they are written when the
// response body is closed, which happens just after the client read it).
func (e *env) waitAudit(n int) []audit.Record {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs := e.audit.Records()
		if len(recs) >= n || time.Now().After(deadline) {
			if len(recs) < n {
				e.t.Fatalf("%d audit records, want %d", len(recs), n)
			}
			return recs
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sseHandler sends one event and flushes it, then holds the stream open
// until release is closed.
func sseHandler(release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	})
}

// expectFirstEvent requests url with grantA and fails unless the first
// event arrives while the upstream still holds the stream open.
func (e *env) expectFirstEvent(url string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-Alter-Grant", grantA)
	resp, err := e.client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "data: first\n" {
			e.t.Fatalf("first line %q", line)
		}
	case <-time.After(10 * time.Second):
		e.t.Fatal("the first event was held back until the stream ended")
	}
}
