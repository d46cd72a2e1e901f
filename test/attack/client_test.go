package attack

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// resp is one answer read off a raw connection.
type resp struct {
	status int
	header http.Header
	body   string
	raw    string // status line, headers and body as received
	err    error  // the connection failed before a response was read
}

func (r *resp) code() string {
	if r.header == nil {
		return ""
	}
	return r.header.Get("X-Alter-Error")
}

func (r *resp) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.status, strings.TrimSpace(r.body))
}

// req builds a raw request from its lines; the test writes every byte.
func req(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

// readResp reads one response; method is the request's, for HEAD bodies.
func readResp(br *bufio.Reader, method string) *resp {
	var rawBuf bytes.Buffer
	tee := bufio.NewReader(io.TeeReader(br, &rawBuf))
	hr, err := http.ReadResponse(tee, &http.Request{Method: method})
	if err != nil {
		return &resp{err: err, raw: rawBuf.String()}
	}
	body, err := io.ReadAll(hr.Body)
	hr.Body.Close()
	r := &resp{status: hr.StatusCode, header: hr.Header, body: string(body), raw: rawBuf.String()}
	if err != nil {
		r.err = err
	}
	return r
}

// readConnectResp reads a CONNECT answer without reading past it: the
// bytes after the blank line belong to the tunnel. A refusal has a body
// with a Content-Length, which is read too.
func readConnectResp(br *bufio.Reader) *resp {
	var raw strings.Builder
	for {
		line, err := br.ReadString('\n')
		raw.WriteString(line)
		if err != nil {
			return &resp{err: err, raw: raw.String()}
		}
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	hr, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw.String())), &http.Request{Method: http.MethodHead})
	if err != nil {
		return &resp{err: err, raw: raw.String()}
	}
	r := &resp{status: hr.StatusCode, header: hr.Header, raw: raw.String()}
	if hr.StatusCode != 200 && hr.ContentLength > 0 {
		b := make([]byte, hr.ContentLength)
		n, _ := io.ReadFull(br, b)
		r.body = string(b[:n])
		r.raw += r.body
	}
	return r
}

func method(raw string) string {
	m, _, _ := strings.Cut(raw, " ")
	return m
}

// send writes raw to the proxy listener and reads one response.
func (e *env) send(raw string) *resp {
	c, err := net.DialTimeout("tcp", e.proxyAddr, 5*time.Second)
	if err != nil {
		return &resp{err: err}
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return &resp{err: err}
	}
	return e.checked(readResp(bufio.NewReader(c), method(raw)))
}

// clientCAs trusts the proxy's CA only, as an application configured for it.
func (e *env) clientCAs() *x509.CertPool {
	pem, err := os.ReadFile(e.home + "/ca.pem")
	if err != nil {
		e.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

// connect opens a CONNECT tunnel; extra are additional CONNECT header lines.
func (e *env) connect(authority string, extra ...string) (net.Conn, *bufio.Reader, *resp) {
	c, err := net.DialTimeout("tcp", e.proxyAddr, 5*time.Second)
	if err != nil {
		return nil, nil, &resp{err: err}
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	lines := []string{"CONNECT " + authority + " HTTP/1.1"}
	if len(extra) == 0 || !strings.HasPrefix(strings.ToLower(extra[0]), "host:") {
		lines = append(lines, "Host: "+authority)
	}
	if _, err := io.WriteString(c, req(append(lines, extra...)...)); err != nil {
		c.Close()
		return nil, nil, &resp{err: err}
	}
	br := bufio.NewReader(c)
	r := readConnectResp(br)
	if r.err != nil || r.status != 200 {
		c.Close()
		return nil, nil, e.checked(r)
	}
	return c, br, r
}

// tlsOver completes TLS with the proxy's leaf inside a tunnel, verifying
// it for sni against the proxy's CA, as a correctly configured client does.
func (e *env) tlsOver(c net.Conn, br *bufio.Reader, sni string) (*tls.Conn, error) {
	tc := tls.Client(&readerConn{Conn: c, r: br}, &tls.Config{ServerName: sni, RootCAs: e.clientCAs(), NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc, nil
}

// sendTLS sends raw inside a terminated tunnel to authority, with SNI sni.
func (e *env) sendTLS(authority, sni, raw string, connectExtra ...string) *resp {
	c, br, r := e.connect(authority, connectExtra...)
	if c == nil {
		return r
	}
	defer c.Close()
	tc, err := e.tlsOver(c, br, sni)
	if err != nil {
		return &resp{err: err}
	}
	if _, err := io.WriteString(tc, raw); err != nil {
		return &resp{err: err}
	}
	return e.checked(readResp(bufio.NewReader(tc), method(raw)))
}

// open returns a connection to send requests on by hand: to the proxy
// listener ("plain", absolute-form requests) or inside a terminated tunnel to
// api.attack.test ("tunnel", origin-form requests).
func (e *env) open(t *testing.T, kind string) net.Conn {
	t.Helper()
	if kind == "plain" {
		c, err := net.DialTimeout("tcp", e.proxyAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	c, br, r := e.connect("api.attack.test:443")
	if c == nil {
		t.Fatalf("CONNECT: %s", r)
	}
	tc, err := e.tlsOver(c, br, "api.attack.test")
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	return tc
}

// checked fails the test if the answer carries the secret.
func (e *env) checked(r *resp) *resp {
	if strings.Contains(r.raw, e.sentinel) {
		e.t.Errorf("LEAK: the secret is in a response to the client: %.300q", r.raw)
	}
	return r
}

type readerConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *readerConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// upstreams is every listener a request could reach.
func (e *env) upstreams() []*upstream {
	return []*upstream{e.good, e.evil, e.plain, e.evilPlain, e.trap}
}

func (e *env) byteCounts() []int64 {
	var n []int64
	for _, u := range e.upstreams() {
		n = append(n, u.bytes.Load())
	}
	return n
}

// refused runs do, expects status (unless 0) and code (unless empty) and proves that
// no upstream received a single byte meanwhile.
func (e *env) refused(t *testing.T, status int, code string, do func() *resp) *resp {
	t.Helper()
	before := e.byteCounts()
	r := do()
	if r.err != nil && status != 0 {
		t.Errorf("want %d %s, connection failed: %v (%q)", status, code, r.err, r.raw)
	} else if status != 0 && (r.status != status || (code != "" && r.code() != code)) {
		t.Errorf("want %d %s, got %d %q: %s", status, code, r.status, r.code(), r.body)
	}
	// A refused request must not have reached any upstream, even later.
	time.Sleep(20 * time.Millisecond)
	for i, u := range e.upstreams() {
		if d := u.bytes.Load() - before[i]; d != 0 {
			t.Errorf("DENIED REQUEST REACHED UPSTREAM: %d bytes to %s", d, u.name)
		}
	}
	return r
}

// allowed runs do, expects 200 from up, and returns what up saw.
func (e *env) allowed(t *testing.T, up *upstream, do func() *resp) *seen {
	t.Helper()
	hits := up.hits.Load()
	r := do()
	if r.err != nil || r.status != 200 {
		t.Fatalf("want 200 from %s, got %s", up.name, r)
	}
	if up.hits.Load() == hits {
		t.Fatalf("%s did not receive the request", up.name)
	}
	return up.lastSeen()
}

// onlyAlterRequestID checks the client got no X-Alter-* header but ours.
func onlyAlterRequestID(t *testing.T, h http.Header) {
	t.Helper()
	for k, vs := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-alter-") && !strings.EqualFold(k, "X-Alter-Request-Id") {
			t.Errorf("response carries %s: %q", k, vs)
		}
		if strings.EqualFold(k, "X-Alter-Request-Id") && (len(vs) != 1 || vs[0] == "upstream-imitation") {
			t.Errorf("X-Alter-Request-Id is the upstream's: %q", vs)
		}
	}
}

// noAlterUpstream checks the upstream got no X-Alter-* header or trailer.
func noAlterUpstream(t *testing.T, s *seen) {
	t.Helper()
	for _, h := range []http.Header{s.Header, s.Trailer} {
		for k := range h {
			if strings.HasPrefix(strings.ToLower(k), "x-alter-") || strings.EqualFold(k, "Proxy-Authorization") {
				t.Errorf("upstream received %s", k)
			}
		}
	}
}
