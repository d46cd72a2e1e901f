package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
)

// countFastPath counts the requests the fast path serves.
func countFastPath(n *atomic.Int64) envOption {
	return func(o *Options) { o.onFastPath = func(*http.Request) { n.Add(1) } }
}

// dialProxy opens a raw connection to the proxy, closed when the test ends.
func dialProxy(t *testing.T, e *env) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", e.proxySrv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// grantGet is a raw absolute-form GET of path on api.example.test with
// grantA, and any extra header lines (each ending in CRLF).
func grantGet(path string, extra ...string) string {
	return "GET http://api.example.test" + path + " HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA + "\r\n" +
		strings.Join(extra, "") + "\r\n"
}

// rawExchange writes raw on a new connection to the proxy and reads want
// responses (skipping 1xx), returning their status codes. The first answer
// is read as one to a HEAD when head is set.
func rawExchange(t *testing.T, e *env, raw string, want int, head bool) []int {
	t.Helper()
	conn, br := dialProxy(t, e)
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	var codes []int
	for len(codes) < want {
		var req *http.Request
		if head && len(codes) == 0 {
			req = &http.Request{Method: http.MethodHead}
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			t.Fatalf("after %v: %v", codes, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			continue
		}
		codes = append(codes, resp.StatusCode)
	}
	return codes
}

// TestFastPathAndHandoff: the fast path serves the requests it can and
// hands every other one, with the rest of its connection, to net/http,
// which answers as before.
func TestFastPathAndHandoff(t *testing.T) {
	if netHTTPTests {
		t.Skip("the fast path is off in this run")
	}
	chunked := "POST http://api.example.test/c HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA +
		"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
	tests := []struct {
		name      string
		raw       string
		codes     []int
		fastPaths int64
	}{
		{"grant request", grantGet("/a"), []int{200}, 1},
		{"pipelined", grantGet("/a") + grantGet("/b") + grantGet("/c"), []int{200, 200, 200}, 3},
		{"chunked body: net/http", chunked, []int{200}, 0},
		{"fast, then chunked, then net/http's to the end", grantGet("/a") + chunked + grantGet("/b"), []int{200, 200, 200}, 1},
		{"100-continue: net/http", "PUT http://api.example.test/p HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA +
			"\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi", []int{200}, 0},
		{"origin form on the listener: net/http's 400", "GET /x HTTP/1.1\r\nHost: api.example.test\r\n\r\n", []int{400}, 0},
		{"head larger than the buffer", "GET http://api.example.test/big HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA +
			"\r\nX-Pad: " + strings.Repeat("p", fastBufSize) + "\r\n\r\n", []int{200}, 0},
		{"refused POST with a buffered body keeps the connection",
			"POST http://api.example.test/x HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantC +
				"\r\nContent-Length: 10\r\n\r\n0123456789" + grantGet("/after"), []int{403, 200}, 2},
		{"POST with a body", "POST http://api.example.test/x HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA +
			"\r\nContent-Length: 10\r\n\r\n0123456789" + grantGet("/after"), []int{200, 200}, 2},
		{"HEAD", "HEAD http://api.example.test/h HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA + "\r\n\r\n" + grantGet("/after"), []int{200, 200}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fast atomic.Int64
			e := newEnv(t, countFastPath(&fast))
			e.tlsUpstream("api.example.test", nil)
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			codes := rawExchange(t, e, tt.raw, len(tt.codes), strings.HasPrefix(tt.raw, "HEAD "))
			if !slices.Equal(codes, tt.codes) {
				t.Fatalf("codes %v, want %v", codes, tt.codes)
			}
			if got := fast.Load(); got != tt.fastPaths {
				t.Fatalf("fast path served %d requests, want %d", got, tt.fastPaths)
			}
			e.checkLogsAndAudit()
		})
	}
}

// TestFastPathInTunnels: requests inside a terminated tunnel take the fast
// path; one it does not take (a chunked upload) moves the tunnel to
// net/http, and the credential is injected either way.
func TestFastPathInTunnels(t *testing.T) {
	if netHTTPTests {
		t.Skip("the fast path is off in this run")
	}
	var fast atomic.Int64
	e := newEnv(t, countFastPath(&fast))
	e.tlsUpstream("api.example.test", nil)
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	c := e.client()
	c.Transport.(*http.Transport).DisableKeepAlives = false
	send := func(body io.Reader) upstreamView {
		req, _ := http.NewRequest("POST", "https://api.example.test/t", body)
		req.Header.Set("X-Alter-Grant", grantA)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return decodeView(t, b)
	}
	for range 3 {
		if v := send(strings.NewReader("sized")); v.Headers["Authorization"][0] != "Bearer "+sentinel {
			t.Fatalf("no credential: %v", v.Headers)
		}
	}
	if fast.Load() != 3 {
		t.Fatalf("fast path served %d of 3 sized requests", fast.Load())
	}
	pr, pw := io.Pipe()
	go func() { _, _ = io.WriteString(pw, "streamed"); _ = pw.Close() }()
	if v := send(pr); v.Headers["Authorization"][0] != "Bearer "+sentinel {
		t.Fatalf("no credential after the handoff: %v", v.Headers)
	}
	send(strings.NewReader("sized, on net/http now"))
	if fast.Load() != 3 {
		t.Fatalf("fast path served %d requests after the handoff, want still 3", fast.Load())
	}
	e.checkLogsAndAudit()
}

// TestFastPathCancelsWhenClientHangsUp: a client that goes away while its
// request waits for the upstream cancels the upstream request, as with
// net/http's server (its background read).
func TestFastPathCancelsWhenClientHangsUp(t *testing.T) {
	e := newEnv(t)
	cancelled := make(chan string, 2)
	e.tlsUpstream("api.example.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // net/http watches for a hang-up only after the body
		select {
		case <-r.Context().Done():
			cancelled <- r.URL.Path
		case <-time.After(20 * time.Second):
		}
	}))
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	for _, body := range []string{"", "0123456789"} {
		conn, err := net.Dial("tcp", e.proxySrv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(conn, "POST http://api.example.test/slow HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: "+grantA+
			"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
		time.Sleep(300 * time.Millisecond) // past hangupWatchDelay
		conn.Close()
		// Well before the env's 5 s response header timeout, which would
		// end the upstream request too.
		select {
		case <-cancelled:
		case <-time.After(3 * time.Second):
			t.Fatalf("body %q: the upstream request was not cancelled when the client hung up", body)
		}
	}
}

// TestFastPathShutdown: Shutdown closes idle connections at once, lets the
// request in flight finish (its answer says Connection: close), and
// returns when it has.
func TestFastPathShutdown(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	e.tlsUpstream("api.example.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, "done")
	}))
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	idle, idleR := dialProxy(t, e)
	_, _ = io.WriteString(idle, grantGet("/fast"))
	if resp, err := http.ReadResponse(idleR, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", resp, err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	busy, busyR := dialProxy(t, e)
	_, _ = io.WriteString(busy, grantGet("/slow"))
	time.Sleep(100 * time.Millisecond)

	shut := make(chan error, 1)
	go func() { shut <- e.proxySrv.srv.Shutdown(context.Background()) }()
	if _, err := idleR.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	resp, err := http.ReadResponse(busyR, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "done" || !resp.Close {
		t.Fatalf("in-flight answer: %d %q close=%v", resp.StatusCode, b, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
