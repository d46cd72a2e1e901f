package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
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
	"github.com/alter-sidecar/alter/proxy/internal/h1"
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

// TestH1WritesWhatTransportWrites: for the same request the inline client
// puts the same bytes on the wire as the grant transport: no header of its
// own (User-Agent, Accept-Encoding, Connection) added or left out.
func TestH1WritesWhatTransportWrites(t *testing.T) {
	rc := newRawCapture(t)
	base := "http://" + rc.ln.Addr().String()
	o := UpstreamOptions{DialTimeout: 5 * time.Second}
	tr := newTransport(o, newDialer(o, false))
	defer tr.CloseIdleConnections()
	h1c := h1.New(h1.Options{Dial: newDialer(o, false).DialContext, DialTimeout: o.DialTimeout})
	defer h1c.CloseIdleConnections()
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
			for i, rt := range []http.RoundTripper{tr, h1c} {
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
