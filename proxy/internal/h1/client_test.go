package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testClient is a client on a plain dialer, as the proxy's without its
// SSRF guard.
func testClient(o Options) *Client {
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.Dial == nil {
		o.Dial = (&net.Dialer{Timeout: o.DialTimeout}).DialContext
	}
	return New(o)
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
	h1 := testClient(Options{})
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
		h := testClient(Options{})
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
		h := testClient(Options{})
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
		n := len(h.idle[connKey{addr: srv.Listener.Addr().String()}])
		h.mu.Unlock()
		if n != 2 {
			t.Fatalf("%d idle connections, want 2", n)
		}
	})
	t.Run("cap over all hosts", func(t *testing.T) {
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
		defer other.Close()
		h := testClient(Options{})
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
			h1 := testClient(Options{})
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
	h1 := testClient(Options{})
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
		_, err := testClient(Options{}).RoundTrip(req)
		if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
	})
	t.Run("response header timeout", func(t *testing.T) {
		url := answerServer(t, "")
		req, _ := http.NewRequest("GET", url, nil)
		_, err := testClient(Options{HeaderTimeout: 100 * time.Millisecond}).RoundTrip(req)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("err %v, want a timeout", err)
		}
	})
	t.Run("the header timeout does not cover the body", func(t *testing.T) {
		url := answerServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
		req, _ := http.NewRequest("GET", url, nil)
		resp, err := testClient(Options{HeaderTimeout: 100 * time.Millisecond}).RoundTrip(req)
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
		h := testClient(Options{})
		h.maxHeaderBytes = 1024
		req, _ := http.NewRequest("GET", url, nil)
		if _, err := h.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("101 Switching Protocols", func(t *testing.T) {
		url := answerServer(t, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		req, _ := http.NewRequest("GET", url, nil)
		if _, err := testClient(Options{}).RoundTrip(req); !errors.Is(err, ErrSwitching) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("endless 1xx", func(t *testing.T) {
		url := answerServer(t, strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 10))
		req, _ := http.NewRequest("GET", url, nil)
		if _, err := testClient(Options{}).RoundTrip(req); !errors.Is(err, ErrTooMany1xx) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("invalid header value refused before dialling", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1/", nil)
		req.Header["X-Bad"] = []string{"a\r\nX-Injected: 1"}
		if _, err := testClient(Options{}).RoundTrip(req); err == nil || !strings.Contains(err.Error(), "invalid header field value") {
			t.Fatalf("err %v", err)
		}
	})
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
		go func() { resp, err = testClient(Options{}).RoundTrip(req); close(done) }()
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
		_, err := testClient(Options{}).RoundTrip(req)
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
		h := testClient(Options{})
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
