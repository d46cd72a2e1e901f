package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/alter-sidecar/alter/server/serverconfig"
)

// startLimitedAdmin serves alter server's admin listener alone on
// loopback with limits l and returns its address.
func startLimitedAdmin(t *testing.T, l adminLimits) string {
	t.Helper()
	home := t.TempDir()
	cfg := serverconfig.Default(home)
	db, err := (&app{stderr: io.Discard, homeFlag: home}).openServerDB(context.Background(), cfg, home)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := listenServerAdmin("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admin.limits = l
	admin.serve(func() error { return nil }, db, nil, zap.NewNop(), io.Discard)
	t.Cleanup(func() {
		admin.close()
		db.Close()
	})
	return admin.ln.Addr().String()
}

// closedByServer reads c until the server closes it and fails t if it
// has not within wait (far above the limits under test).
func closedByServer(t *testing.T, c net.Conn, br *bufio.Reader, wait time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, br)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection is still open after %s", wait)
	}
}

// TestServerAdminAttackSlowClients: on the admin port, which takes no
// token, a client cannot hold a connection: not idle after a scrape, not
// with a head it never finishes (slowloris), not with a body it never
// sends, not by sending nothing; a head over the size limit gets 431.
func TestServerAdminAttackSlowClients(t *testing.T) {
	l := adminLimits{ReadHeader: 200 * time.Millisecond, Read: 300 * time.Millisecond, Write: time.Second,
		Idle: 200 * time.Millisecond, MaxHeaderBytes: 4 << 10, MaxConns: 16}
	addr := startLimitedAdmin(t, l)
	for _, tc := range []struct {
		name, send string
		status     int // 0: no answer
	}{
		{"idle after a scrape", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 200},
		{"a head never finished", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a", 0},
		{"nothing sent", "", 0},
		{"a body never sent", "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", 200},
		{"a head too large", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n", 431},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.send); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if tc.status != 0 {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
			}
			closedByServer(t, c, br, 10*time.Second)
		})
	}
}

// TestServerAdminAttackConnectionFlood: past MaxConns connections at
// once, a new one waits to be served until one closes, so a flood on the
// admin port takes a bounded share of the process's descriptors and
// memory.
func TestServerAdminAttackConnectionFlood(t *testing.T) {
	l := defaultAdminLimits
	l.MaxConns = 3
	addr := startLimitedAdmin(t, l)
	scrape := func(c net.Conn, br *bufio.Reader) error {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	var held []net.Conn
	for range l.MaxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := scrape(c, bufio.NewReader(c)); err != nil { // served: it holds a slot, idle
			t.Fatal(err)
		}
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr) // the kernel accepts it; the server does not yet
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	// Nothing signals "not served"; a short wait for an answer that must
	// not come is the only check there is.
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if err := scrape(c, br); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection past MaxConns was served (%v)", err)
	}
	held[0].Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("once a slot was free: %v", err)
	}
	resp.Body.Close()
}

// TestServerAdminAttackDefaultLimits: the limits alter server and the
// sidecar serve their admin listeners with are all set, and newAdminServer
// hands each to net/http.
func TestServerAdminAttackDefaultLimits(t *testing.T) {
	admin, err := listenServerAdmin("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.close()
	l := admin.limits
	if l != defaultAdminLimits {
		t.Fatalf("listenServerAdmin's limits %+v, want the defaults %+v", l, defaultAdminLimits)
	}
	for name, bad := range map[string]bool{
		"ReadHeader": l.ReadHeader <= 0 || l.ReadHeader > 30*time.Second,
		"Read":       l.Read <= 0 || l.Read > 30*time.Second,
		"Write":      l.Write <= 0 || l.Write > time.Minute,
		"Idle":       l.Idle <= 0 || l.Idle > 5*time.Minute,
		"MaxHeader":  l.MaxHeaderBytes <= 0 || l.MaxHeaderBytes > 64<<10,
		"MaxConns":   l.MaxConns <= 0 || l.MaxConns > 1024,
	} {
		if bad {
			t.Errorf("default %s limit %+v is unset or too large", name, l)
		}
	}
	srv := newAdminServer(http.NotFoundHandler(), l, nil)
	if srv.ReadHeaderTimeout != l.ReadHeader || srv.ReadTimeout != l.Read || srv.WriteTimeout != l.Write ||
		srv.IdleTimeout != l.Idle || srv.MaxHeaderBytes != l.MaxHeaderBytes {
		t.Errorf("newAdminServer dropped a limit: read header %s, read %s, write %s, idle %s, max header %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}
