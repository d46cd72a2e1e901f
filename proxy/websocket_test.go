package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/alter-sidecar/alter/audit"
	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testnet"
	"github.com/alter-sidecar/alter/policy"
)

// wsEcho accepts WebSockets and echoes every message until the client
// closes. It records each handshake's headers, and answers with headers
// that imitate the proxy's own and echo the credential, which the proxy
// must clean from the 101 like from any response.
func wsEcho(seen chan<- http.Header) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		w.Header().Set("X-Alter-Grant", "upstream-imitation")
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
		}
	})
}

// wsEnv is an env with a WebSocket echo upstream behind api.example.test
// over TLS (port 443) and plain HTTP (port 80), and a bearer grant for the
// TLS one; grantB may only use /allowed.
type wsEnv struct {
	*env
	seen  chan http.Header
	tls   *upstream
	plain *upstream
}

func newWSEnv(t *testing.T, opts ...envOption) *wsEnv {
	e := &wsEnv{env: newEnv(t, opts...), seen: make(chan http.Header, 16)}
	e.tls = e.tlsUpstream("api.example.test", wsEcho(e.seen))
	e.plain = &upstream{}
	srv := httptest.NewUnstartedServer(wsEcho(e.seen))
	srv.Listener = testnet.CountingListener{Listener: srv.Listener, N: &e.plain.bytes}
	srv.Start()
	t.Cleanup(srv.Close)
	e.plain.srv = srv
	e.resolve["api.example.test:80"] = srv.Listener.Addr().String()
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	e.addPolicyGrant(grantB, policy.Spec{Destinations: []string{"api.example.test"}, PathPrefixes: []string{"/allowed"}}, "", nil)
	return e
}

// dial opens a WebSocket through the proxy with the coder/websocket client.
func (e *wsEnv) dial(ctx context.Context, rawURL, grant string) (*websocket.Conn, *http.Response, error) {
	proxyURL, _ := url.Parse(e.proxySrv.URL)
	h := http.Header{}
	if grant != "" {
		h.Set(HeaderGrant, grant)
	}
	return websocket.Dial(ctx, rawURL, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{
			Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: e.caPool}}},
		HTTPHeader:      h,
		CompressionMode: websocket.CompressionDisabled,
	})
}

// open dials a WebSocket that must open, closed when the test ends.
func (e *wsEnv) open(t *testing.T, ctx context.Context, rawURL, grant string) (*websocket.Conn, *http.Response) {
	t.Helper()
	conn, resp, err := e.dial(ctx, rawURL, grant)
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn, resp
}

// echo sends msg and expects it back.
func echo(t *testing.T, ctx context.Context, conn *websocket.Conn, msg string) {
	t.Helper()
	if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if _, got, err := conn.Read(ctx); err != nil || string(got) != msg {
		t.Fatalf("echo %q, %v; want %q", got, err, msg)
	}
}

// handshake returns the headers the upstream saw in the last handshake.
func (e *wsEnv) handshake(t *testing.T) http.Header {
	t.Helper()
	select {
	case h := <-e.seen:
		return h
	default:
		t.Fatal("the upstream saw no handshake")
		return nil
	}
}

func (e *wsEnv) checkResponseHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	for k, vs := range resp.Header {
		e.assertNoLeak(k+": "+strings.Join(vs, ","), "101 response header")
		if inject.IsAlterHeader(k) && k != HeaderRequestID {
			t.Errorf("the 101 carries %s: %v", k, vs)
		}
	}
}

func TestWebSocketRelay(t *testing.T) {
	e := newWSEnv(t)
	cases := []struct {
		name      string
		url       string
		grant     string
		up        *upstream
		wantCred  bool
		wantAudit bool
	}{
		{"plain, with a grant", "ws://api.example.test/ws", grantA, e.tls, true, true},
		{"in a tunnel, with a grant", "wss://api.example.test/ws", grantA, e.tls, true, true},
		{"plain, without a grant", "ws://api.example.test/ws", "", e.plain, false, false},
		{"in a tunnel, without a grant", "wss://api.example.test/ws", "", e.tls, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.audit.Records())
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, resp := e.open(t, ctx, c.url, c.grant)
			e.checkResponseHeaders(t, resp)
			hs := e.handshake(t)
			if got := hs.Get("Authorization"); (got == "Bearer "+sentinel) != c.wantCred || (!c.wantCred && got != "") {
				t.Errorf("upstream saw Authorization %q, want the credential: %t", got, c.wantCred)
			}
			for k := range hs {
				if inject.IsAlterHeader(k) || k == "Proxy-Authorization" {
					t.Errorf("the upstream saw %s", k)
				}
			}
			if hs.Get("Sec-Websocket-Key") == "" || hs.Get("Sec-Websocket-Version") != "13" {
				t.Errorf("Sec-WebSocket-* not forwarded: %v", hs)
			}
			for _, msg := range []string{"hello", strings.Repeat("x", 100)} {
				echo(t, ctx, conn, msg)
			}
			if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Fatalf("close: %v", err)
			}
			if !c.wantAudit {
				return
			}
			recs := e.waitAudit(before + 1)[before:]
			if len(recs) != 1 {
				t.Fatalf("%d audit records for one WebSocket, want 1: %+v", len(recs), recs)
			}
			r := recs[0]
			// Client frames carry a 4-byte mask: 2+4+5 and 2+4+100 for the
			// messages, 2+4+2 for the close; the upstream's have none.
			if r.Status != http.StatusSwitchingProtocols || r.Decision != audit.DecisionAllow || r.Path != "/ws" ||
				r.BytesIn != 11+106+8 || r.BytesOut != 7+102+4 {
				t.Errorf("audit record %+v", r)
			}
		})
	}
	e.checkLogsAndAudit()
}

func TestWebSocketRefused(t *testing.T) {
	e := newWSEnv(t)
	for _, scheme := range []string{"ws", "wss"} {
		t.Run(scheme+"/a policy rule refuses the handshake, nothing dialled", func(t *testing.T) {
			before := e.tls.bytes.Load()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, resp, err := e.dial(ctx, scheme+"://api.example.test/ws", grantB)
			if err == nil {
				conn.CloseNow()
				t.Fatal("the handshake went through")
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden || resp.Header.Get(HeaderError) != CodePolicyDenied {
				t.Fatalf("want 403 policy_denied, got %v (%v)", resp, err)
			}
			if n := e.tls.bytes.Load() - before; n != 0 {
				t.Fatalf("%d bytes reached the upstream", n)
			}
			recs := e.waitAudit(1)
			if r := recs[len(recs)-1]; r.Decision != audit.DecisionDeny || r.Rule != policy.RulePath {
				t.Errorf("audit record %+v", r)
			}
		})
	}
	raw := []struct {
		name, req string
		status    int
		code      string
	}{
		{"a handshake that is not a GET", "POST http://api.example.test/ws HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA +
			"\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n", 400, CodeBadRequest},
		{"a handshake with a body", "GET http://api.example.test/ws HTTP/1.1\r\nHost: api.example.test\r\n" +
			"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 2\r\n\r\nhi", 400, CodeBadRequest},
		{"h2c stays refused", "GET http://api.example.test/ws HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA +
			"\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", 400, CodeBadRequest},
	}
	for _, c := range raw {
		t.Run(c.name, func(t *testing.T) {
			before := e.tls.bytes.Load() + e.plain.bytes.Load()
			resp := e.rawRequest(t, c.req)
			if resp.StatusCode != c.status || resp.Header.Get(HeaderError) != c.code {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, resp.Header.Get(HeaderError), c.status, c.code)
			}
			if n := e.tls.bytes.Load() + e.plain.bytes.Load() - before; n != 0 {
				t.Fatalf("%d bytes reached an upstream", n)
			}
		})
	}
	e.checkLogsAndAudit()
}

// rawRequest sends one request as written to the proxy listener and reads
// the answer's head.
func (e *env) rawRequest(t *testing.T, req string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", e.proxySrv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// switcher answers every request with 101 to upgrade (a protocol the
// request may not have asked for).
func switcher(upgrade string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + upgrade + "\r\n\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(io.Discard, c)
	})
}

func TestUnaskedSwitchIsRefused(t *testing.T) {
	e := newEnv(t)
	e.tlsUpstream("ws.example.test", switcher("websocket"))
	e.tlsUpstream("other.example.test", switcher("h2c"))
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "ws.example.test", "other.example.test")
	cases := []struct {
		name, url string
		upgrade   bool
	}{
		{"101 to a request that asked for no upgrade", "https://ws.example.test/x", false},
		{"101 to another protocol than websocket", "https://other.example.test/x", true},
	}
	for _, c := range cases {
		for _, grant := range []string{grantA, ""} {
			t.Run(c.name+"/grant "+map[bool]string{true: "yes", false: "no"}[grant != ""], func(t *testing.T) {
				h := http.Header{}
				if grant != "" {
					h.Set(HeaderGrant, grant)
				}
				if c.upgrade {
					h.Set("Connection", "Upgrade")
					h.Set("Upgrade", "websocket")
					h.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
					h.Set("Sec-WebSocket-Version", "13")
				}
				resp, body := e.do("GET", c.url, h)
				if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), `"reason":"protocol"`) {
					t.Fatalf("got %d %s, want 502 protocol", resp.StatusCode, body)
				}
			})
		}
	}
	e.checkLogsAndAudit()
}

func TestWebSocketIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	e := newWSEnv(t, func(o *Options) { o.Timeouts.WebSocketIdle = idle })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _ := e.open(t, ctx, "wss://api.example.test/ws", grantA)
	// Traffic for three idle periods keeps the relay open...
	n := int64(0)
	var quiet time.Time // no byte moved before the last echo was sent, none after its answer
	for start := time.Now(); time.Since(start) < 3*idle; n++ {
		quiet = time.Now()
		echo(t, ctx, conn, "hello")
	}
	// ...and once nothing more is sent, the proxy ends it.
	_, _, err := conn.Read(ctx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("the idle relay was not closed: %v", err)
	}
	if waited := time.Since(quiet); waited < idle {
		t.Fatalf("closed after %v, before the idle timeout %v", waited, idle)
	}
	recs := e.waitAudit(1)
	if len(recs) != 1 || recs[0].Status != http.StatusSwitchingProtocols || recs[0].BytesIn != 11*n || recs[0].BytesOut != 7*n {
		t.Fatalf("audit records %+v", recs)
	}
	e.checkLogsAndAudit()
}

func TestShutdownEndsWebSockets(t *testing.T) {
	e := newWSEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _ := e.open(t, ctx, "wss://api.example.test/ws", grantA)
	// Its deadline already passed: open WebSockets are ended at once.
	done, stop := context.WithCancel(context.Background())
	stop()
	if err := e.proxy.Shutdown(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want the deadline's error", err)
	}
	if _, _, err := conn.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("the WebSocket outlived the proxy's shutdown: %v", err)
	}
	if recs := e.waitAudit(1); recs[0].Status != http.StatusSwitchingProtocols {
		t.Fatalf("audit records %+v", recs)
	}
}
