package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
)

// envNetHTTP set to 1 makes every env in this package use net/http on both
// sides: its server for every request (Options.DisableFastPath) and its
// Transport for grant-bearing ones (UpstreamOptions.HTTP2); see newEnv.
const envNetHTTP = "ALTER_TEST_NET_HTTP"

var netHTTPTests = os.Getenv(envNetHTTP) == "1"

// TestSuiteOnNetHTTP runs this package's whole test suite again in a child
// process with net/http on both sides, so every end-to-end test
// (redirects, streaming, timeouts, SSRF, upstream trust, trailers,
// scrubbing, SigV4, smuggling, ...) holds for the fast path and the
// HTTP/1.1 client and for net/http's server and Transport.
func TestSuiteOnNetHTTP(t *testing.T) {
	if netHTTPTests {
		t.Skip("this is the net/http run")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.skip=^(TestSuiteOnNetHTTP|Fuzz.*)$")
	cmd.Env = append(os.Environ(), envNetHTTP+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the suite on net/http failed: %v\n%s", err, out)
	}
}

// rawCapture is a plain-HTTP upstream that records the raw bytes of each
// request it reads and answers 200 "ok", keeping the connection open.
type rawCapture struct {
	ln       net.Listener
	mu       sync.Mutex
	requests [][]byte
	conns    atomic.Int64
}

func newRawCapture(t *testing.T) *rawCapture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawCapture{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rc.conns.Add(1)
			go rc.serve(c)
		}
	}()
	return rc
}

func (rc *rawCapture) serve(c net.Conn) {
	defer c.Close()
	var raw bytes.Buffer
	br := bufio.NewReader(io.TeeReader(c, &raw))
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		// What was read is exactly this request (the client waits for the
		// answer before it writes the next one).
		rc.mu.Lock()
		rc.requests = append(rc.requests, bytes.Clone(raw.Bytes()[:raw.Len()-br.Buffered()]))
		rc.mu.Unlock()
		raw.Reset()
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); err != nil {
			return
		}
	}
}

func (rc *rawCapture) last() []byte {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.requests[len(rc.requests)-1]
}

func testH1Client(o UpstreamOptions) *h1Client {
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	return newH1Client(o, newDialer(o, false))
}

// TestH1WritesWhatTransportWrites: for the same request the inline client
// puts the same bytes on the wire as the grant transport: no header of its
// own (User-Agent, Accept-Encoding, Connection) added or left out.
func TestH1WritesWhatTransportWrites(t *testing.T) {
	rc := newRawCapture(t)
	base := "http://" + rc.ln.Addr().String()
	o := UpstreamOptions{DialTimeout: 5 * time.Second}
	tr := newTransport(o, newDialer(o, false))
	defer tr.CloseIdleConnections()
	h1 := testH1Client(o)
	defer h1.CloseIdleConnections()
	tests := []struct {
		name string
		make func() *http.Request
	}{
		{"GET without User-Agent", func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/a?x=1", nil)
			return r
		}},
		{"GET with an empty User-Agent", func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/a", nil)
			r.Header["User-Agent"] = []string{""}
			r.Header.Set("Authorization", "Bearer t")
			return r
		}},
		{"HEAD", func() *http.Request {
			r, _ := http.NewRequest("HEAD", base+"/h", nil)
			r.Header.Set("User-Agent", "app/1")
			return r
		}},
		{"POST with Content-Length", func() *http.Request {
			r, _ := http.NewRequest("POST", base+"/p", strings.NewReader("hello"))
			return r
		}},
		{"POST chunked", func() *http.Request {
			r, _ := http.NewRequest("POST", base+"/p", io.NopCloser(strings.NewReader("streamed body")))
			r.ContentLength = -1
			return r
		}},
		{"PUT with an unknown-length empty body", func() *http.Request {
			r, _ := http.NewRequest("PUT", base+"/p", io.NopCloser(strings.NewReader("")))
			r.ContentLength = 0
			return r
		}},
		{"Host differing from the URL", func() *http.Request {
			r, _ := http.NewRequest("GET", base+"/", nil)
			r.Host = "api.example.test"
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got [2][]byte
			for i, rt := range []http.RoundTripper{tr, h1} {
				resp, err := rt.RoundTrip(tt.make())
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				got[i] = rc.last()
			}
			if !bytes.Equal(got[0], got[1]) {
				t.Fatalf("Transport wrote\n%q\ninline client wrote\n%q", got[0], got[1])
			}
		})
	}
}

// TestH1Pool: a connection is reused only after a complete, keep-alive
// exchange.
func TestH1Pool(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/close":
			w.Header().Set("Connection", "close")
		case "/big":
			_, _ = w.Write(bytes.Repeat([]byte("x"), 1<<20))
			return
		case "/stream": // no length, no chunking: HTTP/1.0 framing by EOF
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "until eof")
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	h1 := testH1Client(UpstreamOptions{})
	defer h1.CloseIdleConnections()
	get := func(path string, readAll bool) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		resp, err := h1.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if readAll {
			_, _ = io.Copy(io.Discard, resp.Body)
		} else {
			_, _ = resp.Body.Read(make([]byte, 10))
		}
		resp.Body.Close()
	}
	steps := []struct {
		path      string
		readAll   bool
		wantConns int64 // after the step
	}{
		{"/", true, 1},
		{"/", true, 1},          // reused
		{"/close", true, 1},     // reused, then closed: the response said so
		{"/", true, 2},          // a new connection
		{"/big", false, 2},      // closed before EOF: the connection goes
		{"/", true, 3},          // so this one is new
		{"/", true, 3},          // and kept
		{"/stream", true, 3},    // reused; a body ending at EOF ends the connection
		{"/", true, 4},          // new
		{"/", true, 4},          // kept
		{"/nothing", true, 4},   // kept
		{"/big", true, 4},       // read to the end: kept
		{"/after-big", true, 4}, // reused
	}
	for i, s := range steps {
		get(s.path, s.readAll)
		if got := conns.Load(); got != s.wantConns {
			t.Fatalf("step %d (%s): %d connections, want %d", i, s.path, got, s.wantConns)
		}
	}

	t.Run("idle timeout", func(t *testing.T) {
		h := testH1Client(UpstreamOptions{})
		h.idleTimeout = 20 * time.Millisecond
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		resp, err := h.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			h.mu.Lock()
			n := len(h.idle)
			h.mu.Unlock()
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the idle connection was never swept")
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	t.Run("per-host cap", func(t *testing.T) {
		h := testH1Client(UpstreamOptions{})
		h.maxIdlePerHost = 2
		defer h.CloseIdleConnections()
		var resps []*http.Response
		for range 4 {
			req, _ := http.NewRequest("GET", srv.URL+"/", nil)
			resp, err := h.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resps = append(resps, resp)
		}
		for _, resp := range resps {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		h.mu.Lock()
		n := len(h.idle[h1Key{addr: srv.Listener.Addr().String()}])
		h.mu.Unlock()
		if n != 2 {
			t.Fatalf("%d idle connections, want 2", n)
		}
	})
	t.Run("cap over all hosts", func(t *testing.T) {
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
		defer other.Close()
		h := testH1Client(UpstreamOptions{})
		h.maxIdle = 3
		defer h.CloseIdleConnections()
		var resps []*http.Response
		for _, u := range []string{srv.URL, srv.URL, other.URL, other.URL} {
			req, _ := http.NewRequest("GET", u+"/", nil)
			resp, err := h.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resps = append(resps, resp)
		}
		for _, resp := range resps {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		h.mu.Lock()
		n, counted := 0, h.nidle
		for _, l := range h.idle {
			n += len(l)
		}
		h.mu.Unlock()
		if n != 3 || counted != 3 {
			t.Fatalf("%d idle connections (counted %d), want 3", n, counted)
		}
		// Taking one out of the pool frees a place.
		req, _ := http.NewRequest("GET", other.URL+"/", nil)
		resp, err := h.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		counted = h.nidle
		h.mu.Unlock()
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if counted != 2 {
			t.Fatalf("%d idle while one is in use, want 2", counted)
		}
	})
}

// staleServer answers the first request on each connection and, on the
// second, reads it and closes the connection without a byte of answer: a
// keep-alive connection the upstream dropped just as it was reused.
func staleServer(t *testing.T) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if i == 1 {
						if tc, ok := c.(*net.TCPConn); ok {
							_ = tc.SetLinger(0) // a reset, as a crashed or restarted upstream
						}
						return
					}
					_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	return ln.Addr().String(), conns
}

// TestH1RetriesOnlyReplayableRequests: a reused connection that fails
// before any response byte is retried once on a new connection, only when
// net/http would retry it.
func TestH1RetriesOnlyReplayableRequests(t *testing.T) {
	withGetBody := func(r *http.Request) {
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("body")), nil }
	}
	tests := []struct {
		name      string
		method    string
		body      bool
		modify    func(*http.Request)
		wantRetry bool
	}{
		{"GET", "GET", false, nil, true},
		{"HEAD", "HEAD", false, nil, true},
		{"DELETE without a body", "DELETE", false, nil, false},
		{"POST with a body", "POST", true, nil, false},
		{"POST with a rewindable body", "POST", true, withGetBody, false},
		{"POST with an Idempotency-Key and a rewindable body", "POST", true, func(r *http.Request) {
			withGetBody(r)
			r.Header.Set("Idempotency-Key", "k1")
		}, true},
		{"POST with an Idempotency-Key and a one-shot body", "POST", true, func(r *http.Request) {
			r.Header.Set("Idempotency-Key", "k1")
		}, false},
		{"PUT with a rewindable body", "PUT", true, withGetBody, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, conns := staleServer(t)
			h1 := testH1Client(UpstreamOptions{})
			defer h1.CloseIdleConnections()
			do := func(method string, body bool, modify func(*http.Request)) (*http.Response, error) {
				var rd io.Reader
				if body {
					rd = io.NopCloser(strings.NewReader("body")) // not a known reader: GetBody stays nil
				}
				req, _ := http.NewRequest(method, "http://"+addr+"/", rd)
				if body {
					req.ContentLength = 4
				}
				if modify != nil {
					modify(req)
				}
				return h1.RoundTrip(req)
			}
			resp, err := do("GET", false, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			resp, err = do(tt.method, tt.body, tt.modify)
			if tt.wantRetry {
				if err != nil {
					t.Fatalf("not retried: %v", err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if conns.Load() != 2 {
					t.Fatalf("%d connections, want 2", conns.Load())
				}
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatal("a request that is not replayable was sent twice")
			}
			if conns.Load() != 1 {
				t.Fatalf("%d connections, want 1 (no retry)", conns.Load())
			}
		})
	}
}

// TestH1DeadPooledConnectionIsNotUsed: a pooled connection the upstream
// closed while idle is noticed before the next request is written, so even
// a POST goes through.
func TestH1DeadPooledConnectionIsNotUsed(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.IdleTimeout = 50 * time.Millisecond
	srv.Start()
	defer srv.Close()
	h1 := testH1Client(UpstreamOptions{})
	defer h1.CloseIdleConnections()
	for i := range 2 {
		req, _ := http.NewRequest("POST", srv.URL+"/", io.NopCloser(strings.NewReader("once")))
		req.ContentLength = 4
		resp, err := h1.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		time.Sleep(200 * time.Millisecond) // the server closes the idle connection
	}
	if conns.Load() != 2 {
		t.Fatalf("%d connections, want 2", conns.Load())
	}
}

// answerServer reads one request head per connection, writes answer and
// then holds the connection open without reading on (an upstream that
// answers early, hangs, or misbehaves). It returns its URL.
func answerServer(t *testing.T, answer string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				_, _ = io.WriteString(c, answer)
				time.Sleep(10 * time.Second)
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

// TestH1Failures: cancellation, header timeout, oversized heads, 101 and
// endless 1xx end the round trip with an error and close the connection.
func TestH1Failures(t *testing.T) {
	t.Run("cancelled while waiting", func(t *testing.T) {
		url := answerServer(t, "")
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		start := time.Now()
		_, err := testH1Client(UpstreamOptions{}).RoundTrip(req)
		if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
		if f := classify(err); f.code != CodeUpstreamError {
			t.Fatalf("classified as %s", f.code)
		}
	})
	t.Run("response header timeout", func(t *testing.T) {
		url := answerServer(t, "")
		req, _ := http.NewRequest("GET", url, nil)
		_, err := testH1Client(UpstreamOptions{ResponseHeaderTimeout: 100 * time.Millisecond}).RoundTrip(req)
		if f := classify(err); f.code != CodeUpstreamTimeout {
			t.Fatalf("err %v classified as %s", err, f.code)
		}
	})
	t.Run("the header timeout does not cover the body", func(t *testing.T) {
		url := answerServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
		req, _ := http.NewRequest("GET", url, nil)
		resp, err := testH1Client(UpstreamOptions{ResponseHeaderTimeout: 100 * time.Millisecond}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got := make(chan error, 1)
		go func() { _, err := io.ReadAll(resp.Body); got <- err }()
		select {
		case err := <-got:
			t.Fatalf("body read ended early: %v", err)
		case <-time.After(400 * time.Millisecond):
		}
	})
	t.Run("oversized response head", func(t *testing.T) {
		url := answerServer(t, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("a", 4096)+"\r\n\r\n")
		h := testH1Client(UpstreamOptions{})
		h.maxHeaderBytes = 1024
		req, _ := http.NewRequest("GET", url, nil)
		if _, err := h.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("101 Switching Protocols", func(t *testing.T) {
		url := answerServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		req, _ := http.NewRequest("GET", url, nil)
		if _, err := testH1Client(UpstreamOptions{}).RoundTrip(req); !errors.Is(err, errH1Switching) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("endless 1xx", func(t *testing.T) {
		url := answerServer(t, strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 10))
		req, _ := http.NewRequest("GET", url, nil)
		if _, err := testH1Client(UpstreamOptions{}).RoundTrip(req); !errors.Is(err, errH1Too1xx) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("invalid header value refused before dialling", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
		req.Header["X-Bad"] = []string{"a\r\nX-Injected: 1"}
		if _, err := testH1Client(UpstreamOptions{}).RoundTrip(req); err == nil || !strings.Contains(err.Error(), "invalid header field value") {
			t.Fatalf("err %v", err)
		}
	})
}

// TestUpstreamMessageShapes: through the proxy, with the grant transport
// and with the inline client, the messages HTTP/1.1 allows arrive as they
// should: 1xx skipped, HEAD, 204 and 304 without a body, chunked requests
// and responses, and HTTP/1.1 negotiated with an upstream that offers h2.
func TestUpstreamMessageShapes(t *testing.T) {
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			e := newEnv(t, func(o *Options) { o.Upstream.HTTP2 = !inline })
			var proto atomic.Value
			h2Upstream(e, "api.example.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				proto.Store(r.Proto)
				body, _ := io.ReadAll(r.Body)
				switch r.URL.Path {
				case "/early":
					w.Header().Set("Link", "</style.css>; rel=preload")
					w.WriteHeader(http.StatusEarlyHints)
					w.WriteHeader(http.StatusProcessing)
					_, _ = io.WriteString(w, "final")
				case "/204":
					w.WriteHeader(http.StatusNoContent)
				case "/304":
					w.WriteHeader(http.StatusNotModified)
				case "/chunked":
					fmt.Fprintf(w, "got %d bytes %q te=%v cl=%d;", len(body), body, r.TransferEncoding, r.ContentLength)
					w.(http.Flusher).Flush()
					_, _ = io.WriteString(w, "second chunk")
				default:
					w.Header().Set("Content-Length", "5")
					_, _ = io.WriteString(w, "hello")
				}
			}))
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			send := func(method, path string, body io.Reader) (*http.Response, string) {
				t.Helper()
				req, _ := http.NewRequest(method, "https://api.example.test"+path, body)
				req.Header.Set("X-Alter-Grant", grantA)
				resp, err := e.client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				return resp, string(b)
			}
			if resp, body := send("GET", "/early", nil); resp.StatusCode != 200 || body != "final" {
				t.Errorf("1xx then 200: %d %q", resp.StatusCode, body)
			}
			if resp, body := send("HEAD", "/", nil); resp.StatusCode != 200 || body != "" || resp.ContentLength != 5 {
				t.Errorf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
			}
			for _, code := range []int{204, 304} {
				if resp, body := send("GET", fmt.Sprint("/", code), nil); resp.StatusCode != code || body != "" {
					t.Errorf("%d: %d %q", code, resp.StatusCode, body)
				}
			}
			resp, body := send("POST", "/chunked", io.MultiReader(strings.NewReader("part one,"), strings.NewReader("part two")))
			te := "[]" // HTTP/2 has no chunked coding
			if inline {
				te = "[chunked]"
			}
			if want := `got 17 bytes "part one,part two" te=` + te + ` cl=-1;second chunk`; resp.StatusCode != 200 || body != want {
				t.Errorf("chunked: %d %q, want %q", resp.StatusCode, body, want)
			}
			if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
				t.Errorf("response framing %v", resp.TransferEncoding)
			}
			want := "HTTP/2.0" // the grant transport takes h2 when offered
			if inline {
				want = "HTTP/1.1"
			}
			if got, _ := proto.Load().(string); got != want {
				t.Errorf("upstream saw %s, want %s", got, want)
			}
			// Several requests in a row on the pooled connection.
			for i := range 5 {
				if resp, body := send("GET", "/", nil); resp.StatusCode != 200 || body != "hello" {
					t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
				}
			}
			e.checkLogsAndAudit()
		})
	}
}

// h2Upstream starts a TLS upstream for host that offers h2 and http/1.1.
func h2Upstream(e *env, host string, h http.Handler) {
	e.t.Helper()
	srv := httptest.NewUnstartedServer(h)
	leaf, err := e.upLeaves.Get(host)
	if err != nil {
		e.t.Fatal(err)
	}
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*leaf}, NextProtos: []string{"h2", "http/1.1"}}
	srv.StartTLS()
	e.t.Cleanup(srv.Close)
	e.resolve[host+":443"] = srv.Listener.Addr().String()
}

// TestH1RequestBodies: a body is written on its own goroutine, so an
// upstream that answers before reading it (and never does) is heard, a body
// that fails mid-way never reaches the upstream as a whole request, and a
// connection is pooled only once its request was written in full.
func TestH1RequestBodies(t *testing.T) {
	// The upstream answers 413 after the head and reads nothing more.
	t.Run("answer before the body is read", func(t *testing.T) {
		url := answerServer(t, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!") + "upload"
		// Far more than the socket buffers hold: an inline write would
		// block until the upstream gave up.
		body := io.LimitReader(zeroReader{}, 64<<20)
		req, _ := http.NewRequest("PUT", url, io.NopCloser(body))
		req.ContentLength = 64 << 20
		done := make(chan struct{})
		var resp *http.Response
		var err error
		go func() { resp, err = testH1Client(UpstreamOptions{}).RoundTrip(req); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatal("the upstream's early answer was not read while the body was being written")
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || string(b) != "too big!" {
			t.Fatalf("got %d %q", resp.StatusCode, b)
		}
	})

	t.Run("failing body: the upstream never gets a whole request", func(t *testing.T) {
		got := make(chan string, 1)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			got <- fmt.Sprintf("%d bytes, err %v", len(b), err)
		}))
		defer up.Close()
		body := io.MultiReader(strings.NewReader("partial"), errReader{errors.New("client went away")})
		req, _ := http.NewRequest("POST", up.URL, io.NopCloser(body))
		req.ContentLength = 100
		_, err := testH1Client(UpstreamOptions{}).RoundTrip(req)
		if err == nil || !strings.Contains(err.Error(), "client went away") {
			t.Fatalf("err %v, want the body's error", err)
		}
		select {
		case g := <-got:
			if strings.Contains(g, "err <nil>") {
				t.Fatalf("upstream read a whole body: %s", g)
			}
		case <-time.After(5 * time.Second):
			// The handler may never have run: also fine.
		}
	})

	t.Run("a written request's connection is pooled", func(t *testing.T) {
		var conns atomic.Int32
		up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%d", len(b))
		}))
		up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		up.Start()
		defer up.Close()
		h := testH1Client(UpstreamOptions{})
		for i := 0; i < 20; i++ {
			req, _ := http.NewRequest("POST", up.URL, strings.NewReader(strings.Repeat("x", 1000+i)))
			resp, err := h.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != fmt.Sprint(1000+i) {
				t.Fatalf("request %d: upstream read %s bytes", i, b)
			}
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("20 sequential POSTs used %d connections, want 1", n)
		}
	})
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
