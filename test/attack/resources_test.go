package attack

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Class 10: bounded leaf cache under many SNI names, bounded SigV4 body
// buffering (413 before any byte goes out), idle tunnels released, and
// slow clients.
func TestAttackResources(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOpts{mitmHosts: "all", leafCache: 4, maxSignedBody: "1KiB", setup: func(e *env) {
		in := "access_key_id=AKIDEXAMPLE\nsecret_access_key=" + e.secret("aws") + "\n"
		out, err := e.alter(in, "secret", "add", "--type", "aws_sigv4", "--allow-host", "sigv4.attack.test",
			"--param", "region=us-east-1", "--param", "service=execute-api", "--name", "aws")
		if err != nil {
			t.Fatal(err)
		}
		e.grants["aws"] = strings.TrimSpace(out)
	}})

	t.Run("many distinct SNI names stay within leaf_cache_size", func(t *testing.T) {
		for i := 0; i < 24; i++ {
			name := fmt.Sprintf("n%d.leaf.attack.test", i)
			c, br, r := e.connect(name + ":443")
			if c == nil {
				t.Fatalf("CONNECT %s: %s", name, r)
			}
			if _, err := e.tlsOver(c, br, name); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			c.Close()
		}
		v, _ := strconv.Atoi(e.metric("alter_leaf_cache_size"))
		if v < 1 || v > 4 {
			t.Errorf("alter_leaf_cache_size = %d after 24 names, want 1..4", v)
		}
	})

	g := e.grants["aws"]
	post := func(body string, framing string) func() *resp {
		return func() *resp {
			return e.send("POST https://sigv4.attack.test/x HTTP/1.1\r\nHost: sigv4.attack.test\r\nX-Alter-Grant: " + g + "\r\n" + framing + "\r\n" + body)
		}
	}
	t.Run("SigV4 small body is signed", func(t *testing.T) {
		s := e.allowed(t, e.good, post("hello", "Content-Length: 5\r\n"))
		if !strings.HasPrefix(s.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") || s.Body != "hello" {
			t.Errorf("not signed or body lost")
		}
	})
	big := strings.Repeat("a", 4096)
	t.Run("SigV4 body over max_signed_body with Content-Length", func(t *testing.T) {
		e.refused(t, 413, "request_too_large", post(big, "Content-Length: 4096\r\n"))
	})
	t.Run("SigV4 body over max_signed_body, chunked", func(t *testing.T) {
		e.refused(t, 413, "request_too_large", post(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big), "Transfer-Encoding: chunked\r\n"))
	})
	t.Run("SigV4 huge declared body is refused without reading it", func(t *testing.T) {
		// 8 GiB declared, 4 KiB sent: the answer must not wait for the rest.
		e.refused(t, 413, "request_too_large", post(big, "Content-Length: 8589934592\r\n"))
	})
	t.Run("SigV4 body in the tunnel", func(t *testing.T) {
		e.refused(t, 413, "request_too_large", func() *resp {
			return e.sendTLS("sigv4.attack.test:443", "sigv4.attack.test", "POST /x HTTP/1.1\r\nHost: sigv4.attack.test\r\nX-Alter-Grant: "+g+"\r\nContent-Length: 4096\r\n\r\n"+big)
		})
	})

	t.Run("idle tunnels are released", func(t *testing.T) {
		var conns []net.Conn
		for i := 0; i < 40; i++ {
			c, br, r := e.connect("api.attack.test:443")
			if c == nil {
				t.Fatalf("CONNECT: %s", r)
			}
			tc, err := e.tlsOver(c, br, "api.attack.test")
			if err != nil {
				t.Fatal(err)
			}
			_ = tc.SetDeadline(time.Time{})
			conns = append(conns, tc)
		}
		// The gauge moves when the proxy's side of the handshake ends,
		// which may be just after the client's.
		eventually(t, func() bool { return openTunnels(e) >= 40 })
		// The proxy still answers while they sit idle.
		e.allowed(t, e.good, func() *resp { return e.send(req("GET https://api.attack.test/ HTTP/1.1", "Host: api.attack.test")) })
		for _, c := range conns {
			c.Close()
		}
		eventually(t, func() bool { return openTunnels(e) == 0 })
	})

}

// TestAttackSlowClients: a client that never finishes its header block is
// disconnected after timeouts.header, on the listener and inside a tunnel.
func TestAttackSlowClients(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOpts{timeouts: "{header: 1s, handshake: 1s}", setup: func(e *env) {
		e.addGrant("api", "--type", "bearer", "--allow-host", "api.attack.test")
	}})
	for kind, open := range map[string]func() net.Conn{
		"listener": func() net.Conn {
			c, err := net.Dial("tcp", e.proxyAddr)
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		"connect without a handshake": func() net.Conn {
			c, err := net.Dial("tcp", e.proxyAddr)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(c, "CONNECT api.attack.test:443 HTTP/1.1\r\nHost: api.attack.test:443\r\n\r\n")
			return c
		},
	} {
		t.Run(kind, func(t *testing.T) {
			c := open()
			defer c.Close()
			if kind == "listener" {
				_, _ = io.WriteString(c, "GET https://api.attack.test/ HTTP/1.1\r\nHost: api.attack.test\r\n")
			}
			_ = c.SetReadDeadline(time.Now().Add(8 * time.Second))
			_, err := io.ReadAll(bufio.NewReader(c))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("a slow client kept its connection past timeouts.header")
			}
		})
	}
}

func openTunnels(e *env) int {
	for _, line := range strings.Split(e.metrics(), "\n") {
		if strings.HasPrefix(line, `alter_open_tunnels{kind="terminated"}`) {
			n, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return int(n)
		}
	}
	return -1
}
