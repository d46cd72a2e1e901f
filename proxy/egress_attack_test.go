package proxy

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/inject"
)

// rogueProxy is an upstream.proxy that reads each CONNECT head and then
// does what its case says with the connection. It records every byte it
// could read in clear after the head.
type rogueProxy struct {
	ln   net.Listener
	mu   sync.Mutex
	seen strings.Builder
}

func newRogueProxy(t *testing.T, after func(c net.Conn, br *bufio.Reader, target string, seen io.Writer)) *rogueProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rp := &rogueProxy{ln: ln}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				after(c, br, req.RequestURI, rp)
			}()
		}
	}()
	return rp
}

func (rp *rogueProxy) Write(b []byte) (int, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.seen.Write(b)
}

func (rp *rogueProxy) clear() string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.seen.String()
}

func TestUpstreamProxyMisbehaves(t *testing.T) {
	dir := t.TempDir()
	rogueCA, err := certs.CreateCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	rogueLeaves := certs.NewLeafCache(rogueCA, 4)
	cases := []struct {
		name   string
		after  func(c net.Conn, br *bufio.Reader, target string, seen io.Writer)
		status int
		reason string
	}{
		{"it terminates TLS with a certificate of its own for the upstream's name", func(c net.Conn, br *bufio.Reader, _ string, seen io.Writer) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
			leaf, err := rogueLeaves.Get("api.example.test")
			if err != nil {
				return
			}
			tc := tls.Server(&bufferedConn{Conn: c, r: br}, &tls.Config{Certificates: []tls.Certificate{*leaf}})
			_, _ = io.Copy(seen, tc)
		}, http.StatusBadGateway, ReasonCertificate},
		{"its answer's head never ends", func(c net.Conn, br *bufio.Reader, _ string, _ io.Writer) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Long: ")
			chunk := strings.Repeat("a", 32<<10)
			for i := 0; i < 64; i++ { // 2 MiB, far past maxConnectHead
				if _, err := io.WriteString(c, chunk); err != nil {
					return
				}
			}
		}, http.StatusBadGateway, ReasonUpstreamProxy},
		{"its status line is endless", func(c net.Conn, _ *bufio.Reader, _ string, _ io.Writer) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 "+strings.Repeat("x", 1<<20))
		}, http.StatusBadGateway, ReasonUpstreamProxy},
		{"it answers with garbage", func(c net.Conn, _ *bufio.Reader, _ string, _ io.Writer) {
			_, _ = io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
		}, http.StatusBadGateway, ReasonUpstreamProxy},
		{"it never answers", func(c net.Conn, br *bufio.Reader, _ string, _ io.Writer) {
			_, _ = io.Copy(io.Discard, br) // until the sidecar gives up and closes
		}, http.StatusBadGateway, ReasonUpstreamProxy},
		{"it challenges with 407 and a body, keeping the connection", func(c net.Conn, br *bufio.Reader, _ string, _ io.Writer) {
			_, _ = io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=x\r\nContent-Length: 5\r\n\r\nhello")
			_, _ = io.Copy(io.Discard, br)
		}, http.StatusBadGateway, ReasonUpstreamProxy},
	}
	for _, c := range cases {
		for _, h2 := range []bool{false, true} {
			name := c.name + map[bool]string{false: "/h1", true: "/net-http"}[h2]
			t.Run(name, func(t *testing.T) {
				rp := newRogueProxy(t, c.after)
				e := newEnv(t, viaProxy(rp.ln.Addr().String(), corpUser, corpPass), func(o *Options) {
					o.Upstream.DialTimeout = 500 * time.Millisecond
					o.Upstream.HTTP2 = h2
				})
				e.tlsUpstream("api.example.test", nil)
				e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
				resp, body := e.do("GET", "https://api.example.test/", http.Header{HeaderGrant: {grantA}})
				var eb errorBody
				_ = json.Unmarshal(body, &eb)
				if resp.StatusCode != c.status || eb.Reason != c.reason {
					t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, c.status, c.reason)
				}
				if s := rp.clear(); strings.Contains(s, sentinel) {
					t.Fatalf("the credential reached the upstream proxy in clear: %q", s)
				}
				e.checkLogsAndAudit()
				for _, entry := range e.logs.All() {
					js, _ := json.Marshal(entry.ContextMap())
					if s := entry.Message + string(js); strings.Contains(s, corpPass) || strings.Contains(s, corpAuth(corpUser, corpPass)[6:]) {
						t.Fatalf("the upstream proxy's password is in the log: %s", s)
					}
				}
			})
		}
	}
}
