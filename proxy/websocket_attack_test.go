package proxy

import (
	"context"
	"net/http"
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
