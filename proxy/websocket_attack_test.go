package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/alter-sidecar/alter/inject"
)

// gated holds every request until release is closed, after telling arrived
// that it came: the handshake is then in flight in the proxy.
func gated(h http.Handler, arrived chan<- struct{}, release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		h.ServeHTTP(w, r)
	})
}

// A WebSocket whose handshake is still waiting for the upstream's 101 when
// the proxy stops, or when a reload ends the old proxy's raw tunnels, must
// not open afterwards: nothing would ever end it (Shutdown had nothing left
// to wait for, CloseRawTunnels had already run), so a client the new config
// refuses would keep it for as long as it sends a byte every idle period.
func TestWebSocketHandshakeInFlightWhenStopping(t *testing.T) {
	cases := []struct {
		name string
		url  string
		stop func(p *Proxy)
	}{
		{"shutdown, on the listener", "ws://api.example.test/ws", func(p *Proxy) {
			// Nothing is open yet: Shutdown returns at once.
			if err := p.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		}},
		{"reload, on the listener", "ws://api.example.test/ws", (*Proxy).CloseRawTunnels},
		{"reload, in a tunnel", "wss://api.example.test/ws", (*Proxy).CloseRawTunnels},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			arrived, release := make(chan struct{}, 1), make(chan struct{})
			e := &wsEnv{env: newEnv(t), seen: make(chan http.Header, 4)}
			e.tlsUpstream("api.example.test", gated(wsEcho(e.seen), arrived, release))
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			type dialed struct {
				conn *websocket.Conn
				err  error
			}
			res := make(chan dialed, 1)
			go func() {
				conn, _, err := e.dial(ctx, c.url, grantA)
				res <- dialed{conn, err}
			}()
			<-arrived
			c.stop(e.proxy)
			close(release)
			d := <-res
			if d.err == nil {
				defer d.conn.CloseNow()
				if err := d.conn.Write(ctx, websocket.MessageText, []byte("still here")); err == nil {
					if _, got, err := d.conn.Read(ctx); err == nil {
						t.Fatalf("a WebSocket opened after the proxy stopped relays, and relays: %q", got)
					}
				}
			}
			e.checkLogsAndAudit()
		})
	}
}

// rawSwitch answers with the 101 head as written, plus extra bytes in the
// same write (the upstream's first frames), then echoes what it reads.
func rawSwitch(head, extra string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		head = strings.ReplaceAll(head, "{auth}", r.Header.Get("Authorization"))
		_, _ = brw.WriteString(head + extra)
		_ = brw.Flush()
		_, _ = io.Copy(c, brw)
	})
}

// The 101 an upstream writes by hand is cleaned like any response before
// the client sees it: the reason phrase, headers it lists in Connection,
// X-Alter-* imitations and anything naming or echoing the credential are
// gone; bytes it sent with the 101 reach the client, behind the head.
func TestSwitchHeadIsCleaned(t *testing.T) {
	e := newEnv(t)
	e.tlsUpstream("api.example.test", rawSwitch("HTTP/1.1 101 Yours: {auth}\r\n"+
		"Connection: Upgrade, X-Listed\r\nUpgrade: websocket\r\nX-Listed: 1\r\nX-Alter-Error: imitation\r\n"+
		"X-"+sentinel+": 1\r\nX-Echo: {auth}\r\n\r\n", "EXTRA"))
	e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
	handshake := "X-Alter-Grant: " + grantA + "\r\nConnection: keep-alive, Upgrade, Authorization\r\nUpgrade: WebSocket\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: the client's own\r\n\r\nPING"
	cases := []struct {
		name   string
		tunnel bool
		req    string
	}{
		{"on the listener", false, "GET http://api.example.test/ws HTTP/1.1\r\nHost: api.example.test\r\n" + handshake},
		{"in a tunnel", true, "GET /ws HTTP/1.1\r\nHost: api.example.test\r\n" + handshake},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", e.proxySrv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			conn := raw
			if c.tunnel {
				_, _ = io.WriteString(raw, "CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test:443\r\n\r\n")
				if resp, err := http.ReadResponse(bufio.NewReader(raw), &http.Request{Method: http.MethodConnect}); err != nil || resp.StatusCode != 200 {
					t.Fatalf("CONNECT: %v %v", resp, err)
				}
				conn = tls.Client(raw, &tls.Config{ServerName: "api.example.test", RootCAs: e.caPool})
			}
			if _, err := io.WriteString(conn, c.req); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			var head strings.Builder
			for {
				l, err := br.ReadString('\n')
				head.WriteString(l)
				if err != nil || l == "\r\n" {
					break
				}
			}
			h := head.String()
			e.assertNoLeak(h, "101 head")
			if !strings.HasPrefix(h, "HTTP/1.1 101 Switching Protocols\r\n") {
				t.Fatalf("head %q", h)
			}
			for _, bad := range []string{"X-Listed", "X-Alter-Error", "Yours"} {
				if strings.Contains(h, bad) {
					t.Errorf("the 101 carries %s: %q", bad, h)
				}
			}
			if !strings.Contains(h, "\r\nX-Echo: *") {
				t.Errorf("the echoed credential is not masked: %q", h)
			}
			// EXTRA came with the 101; PING came with the handshake and
			// was echoed once the upstream switched.
			got := make([]byte, len("EXTRAPING"))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != "EXTRAPING" {
				t.Fatalf("relayed %q, %v", got, err)
			}
		})
	}
	e.checkLogsAndAudit()
}
