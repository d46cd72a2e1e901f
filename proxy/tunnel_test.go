package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
)

// TestTunnelLimits: requests inside a terminated tunnel get the same limits
// as on the proxy listener (SECURITY.md classes 5 and 10).
func TestTunnelLimits(t *testing.T) {
	short := func(o *Options) {
		o.Timeouts = Timeouts{Handshake: 300 * time.Millisecond, Header: 300 * time.Millisecond, Idle: 300 * time.Millisecond}
	}

	t.Run("oversized header block answered 431, nothing forwarded", func(t *testing.T) {
		e := newEnv(t)
		up := e.tlsUpstream("api.example.test", nil)
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
		raw := "GET / HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA + "\r\nX-Big: " + strings.Repeat("a", 2*MaxHeaderBytes) + "\r\n\r\n"
		resp, _ := tunnelRequest(t, e, "api.example.test:443", "api.example.test", raw)
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || up.bytes.Load() != 0 {
			t.Fatalf("status %d, upstream bytes %d", resp.StatusCode, up.bytes.Load())
		}
	})

	for _, tc := range []struct{ name, raw string }{
		{"two different Content-Lengths", "POST / HTTP/1.1\r\nHost: api.example.test\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc"},
		{"disguised Transfer-Encoding", "POST / HTTP/1.1\r\nHost: api.example.test\r\nTransfer-Encoding: xchunked\r\n\r\n"},
		{"space before the colon of the marker", "GET / HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant : " + grantA + "\r\n\r\n"},
		{"Content-Length with Transfer-Encoding", "POST / HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA + "\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"Transfer-Encoding then Content-Length", "POST / HTTP/1.1\r\nHost: api.example.test\r\nTransfer-Encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n"},
		{"two Host headers", "GET / HTTP/1.1\r\nHost: api.example.test\r\nHost: evil.example.test\r\n\r\n"},
		{"Upgrade h2c with a grant", "GET / HTTP/1.1\r\nHost: api.example.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nX-Alter-Grant: " + grantA + "\r\n\r\n"},
		{"Upgrade h2c without a grant", "GET / HTTP/1.1\r\nHost: api.example.test\r\nUpgrade: H2C\r\n\r\n"},
	} {
		t.Run("ambiguous framing refused: "+tc.name, func(t *testing.T) {
			e := newEnv(t)
			up := e.tlsUpstream("api.example.test", nil)
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			resp, _ := tunnelRequest(t, e, "api.example.test:443", "api.example.test", tc.raw)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 && resp.StatusCode != 501 || up.bytes.Load() != 0 {
				t.Fatalf("status %d, upstream bytes %d", resp.StatusCode, up.bytes.Load())
			}
		})
	}

	t.Run("CONNECT then silence is closed", func(t *testing.T) {
		e := newEnv(t, short)
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
		status, conn := rawConnect(t, e, "api.example.test:443")
		if status != 200 {
			t.Fatal(status)
		}
		assertClosedWithin(t, conn, 5*time.Second)
	})

	t.Run("TLS then a header that never ends is closed", func(t *testing.T) {
		e := newEnv(t, short)
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
		status, conn := rawConnect(t, e, "api.example.test:443")
		if status != 200 {
			t.Fatal(status)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: "api.example.test", RootCAs: e.caPool})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(tc, "GET /slow HTTP/1.1\r\nHost: api.example.test\r\n")
		assertClosedWithin(t, tc, 5*time.Second)
	})

	t.Run("keep-alive works for several requests", func(t *testing.T) {
		e := newEnv(t)
		up := e.tlsUpstream("api.example.test", nil)
		e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
		status, conn := rawConnect(t, e, "api.example.test:443")
		if status != 200 {
			t.Fatal(status)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: "api.example.test", RootCAs: e.caPool})
		br := bufio.NewReader(tc)
		for i := 0; i < 3; i++ {
			fmt.Fprintf(tc, "GET /n%d HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: %s\r\n\r\n", i, grantA)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || decodeView(t, body).Path != fmt.Sprintf("/n%d", i) {
				t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
			}
		}
		if up.hits.Load() != 3 {
			t.Fatalf("upstream hits %d", up.hits.Load())
		}
	})
}

func assertClosedWithin(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the proxy kept an idle connection open for %v", d)
	}
}

// TestResponseTrailersImitatingOurs: an upstream cannot forge X-Alter-*
// headers in trailers either.
func TestResponseTrailersImitatingOurs(t *testing.T) {
	for _, url := range []string{"https://api.example.test/t", "http://api.example.test/t"} {
		t.Run(url, func(t *testing.T) {
			e := newEnv(t)
			e.tlsUpstream("api.example.test", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Trailer", "X-Alter-Error, X-Ok")
				w.WriteHeader(200)
				_, _ = io.WriteString(w, "body")
				w.Header().Set("X-Alter-Error", "forged")
				w.Header().Set("X-Ok", "kept")
			}))
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			req, _ := http.NewRequest("GET", url, nil)
			req.Header.Set("X-Alter-Grant", grantA)
			resp, err := e.client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Trailer.Get("X-Alter-Error") != "" || resp.Header.Get("X-Alter-Error") != "" {
				t.Fatalf("forged X-Alter-Error reached the client: trailer %v header %v", resp.Trailer, resp.Header)
			}
		})
	}
}
