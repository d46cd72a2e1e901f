package attack

import (
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/certs"
	"github.com/alter-sidecar/alter/internal/testnet"
)

// seen is what an upstream received in one request, as its handler read it.
type seen struct {
	Method  string
	Host    string
	Path    string
	Query   string
	Header  http.Header
	Trailer http.Header
	Body    string
}

// upstream is a server standing in for an API host. Its listener counts
// every byte a client sent, so a test can prove that a refused request sent
// nothing at all (not even a TLS ClientHello).
type upstream struct {
	name  string
	addr  string
	bytes atomic.Int64
	hits  atomic.Int64
	mu    sync.Mutex
	last  *seen
}

func (u *upstream) lastSeen() *seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

// startUpstream serves handler on 127.0.0.1; cert nil means plain HTTP.
// HTTP/2 is off on purpose: its window updates arrive after a response has
// ended and would make the byte counts of the next test noisy.
func startUpstream(t *testing.T, name string, cert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *upstream {
	t.Helper()
	return startUpstreamOn(t, "127.0.0.1:0", name, cert)
}

func startUpstreamOn(t *testing.T, addr, name string, cert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *upstream {
	t.Helper()
	u := &upstream{name: name}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	u.addr = ln.Addr().String()
	var l net.Listener = testnet.CountingListener{Listener: ln, N: &u.bytes}
	if cert != nil {
		l = tls.NewListener(l, &tls.Config{GetCertificate: cert, NextProtos: []string{"http/1.1"}})
	}
	srv := &http.Server{Handler: u.handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return u
}

// handler records the request and answers by path. It never echoes what
// it received unless asked to (/echo), so the sentinel in a response is
// always a finding.
func (u *upstream) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/early" {
			// Answers before reading the body, as an API refusing an upload
			// does; the server then reads (and drops) what follows. Full
			// duplex, or net/http would read the body before this head.
			_ = http.NewResponseController(w).EnableFullDuplex()
			_, _ = io.WriteString(w, "early answer\n")
			w.(http.Flusher).Flush()
			return
		}
		body, _ := io.ReadAll(r.Body)
		s := &seen{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header.Clone(), Trailer: r.Trailer.Clone(), Body: string(body)}
		u.mu.Lock()
		u.last = s
		u.mu.Unlock()
		u.hits.Add(1)
		if r.URL.Path == "/ws" && strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			switchAndEcho(w, r)
			return
		}
		// Response headers that imitate the proxy's own.
		w.Header().Set("X-Alter-Grant", "upstream-imitation")
		w.Header().Set("x-alter-error", "upstream-imitation")
		w.Header().Set("X-Alter-Request-Id", "upstream-imitation")
		switch {
		case strings.HasPrefix(r.URL.Path, "/redirect/"):
			code := map[string]int{"301": 301, "302": 302, "303": 303, "307": 307, "308": 308}[strings.TrimPrefix(r.URL.Path, "/redirect/")]
			w.Header().Set("Location", "https://evil.attack.test/steal?from=redirect")
			w.WriteHeader(code)
		case r.URL.Path == "/echo":
			// An upstream (or a debug endpoint) that reflects the request.
			w.Header().Set("X-Echo-Authorization", r.Header.Get("Authorization"))
			_, _ = io.WriteString(w, "you sent: "+r.Header.Get("Authorization")+" "+r.URL.RawQuery+"\n")
		case r.URL.Path == "/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 3; i++ {
				_, _ = io.WriteString(w, "data: tick\n\n")
				w.(http.Flusher).Flush()
				time.Sleep(20 * time.Millisecond)
			}
		default:
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok from "+u.name+"\n")
		}
	})
}

// upstreamCA signs the test upstreams' certificates; the proxy trusts it
// through upstream.ca_file, clients never do.
type upstreamCA struct {
	pemPath string
	leaves  *certs.LeafCache
}

func newUpstreamCA(t *testing.T, dir, tag string) *upstreamCA {
	t.Helper()
	pemPath := dir + "/up-" + tag + ".pem"
	ca, err := certs.CreateCA(pemPath, dir+"/up-"+tag+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	return &upstreamCA{pemPath: pemPath, leaves: certs.NewLeafCache(ca, 256)}
}

// forSNI presents a certificate for the name the client asked for.
func (c *upstreamCA) forSNI() func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		name := h.ServerName
		if name == "" {
			name = "127.0.0.1"
		}
		return c.leaves.Get(name)
	}
}

// fixed always presents a certificate for name.
func (c *upstreamCA) fixed(name string) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.leaves.Get(name) }
}

// switchAndEcho accepts a WebSocket handshake by hand (RFC 6455 section
// 4.2.2), with a header that echoes the credential, and then sends back
// every byte it receives, frames or not, until the client closes.
func switchAndEcho(w http.ResponseWriter, r *http.Request) {
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n" +
		"X-Echo-Authorization: " + r.Header.Get("Authorization") + "\r\nX-Alter-Grant: upstream-imitation\r\n\r\n")
	_ = brw.Flush()
	_, _ = io.Copy(c, brw)
}
