package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
)

// TestAmbiguousFramingRefused: Content-Length with Transfer-Encoding is
// refused with 400 on the listener, grant or not, and nothing is forwarded.
func TestAmbiguousFramingRefused(t *testing.T) {
	for name, raw := range map[string]string{
		"CL then TE with a grant": "POST http://api.example.test/ HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: " + grantA +
			"\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"TE then CL, lower case, no grant": "POST http://open.example.test/ HTTP/1.1\r\nHost: open.example.test\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			up := e.tlsUpstream("api.example.test", nil)
			open := e.plainUpstream("open.example.test:80")
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			conn, err := net.Dial("tcp", e.proxySrv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(conn, raw)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 400 || up.bytes.Load() != 0 || open.bytes.Load() != 0 {
				t.Fatalf("status %d, upstream bytes %d/%d", resp.StatusCode, up.bytes.Load(), open.bytes.Load())
			}
		})
	}
}

// TestFramingScannerFollowsBodies: on one kept-alive connection, bodies of
// every framing (including one whose text looks like an ambiguous head)
// are followed correctly and no request is refused by mistake.
func TestFramingScannerFollowsBodies(t *testing.T) {
	e := newEnv(t)
	up := e.plainUpstream("open.example.test:80")
	conn, err := net.Dial("tcp", e.proxySrv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	tricky := "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
	requests := []string{
		fmt.Sprintf("POST http://open.example.test/a HTTP/1.1\r\nHost: open.example.test\r\nContent-Length: %d\r\n\r\n%s", len(tricky), tricky),
		"POST http://open.example.test/b HTTP/1.1\r\nHost: open.example.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n", len(tricky), tricky),
		"GET http://open.example.test/c HTTP/1.1\r\nHost: open.example.test\r\n\r\n",
	}
	br := bufio.NewReader(conn)
	for i, raw := range requests {
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"path":"/`+string(rune('a'+i))+`"`) {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if up.hits.Load() != 3 {
		t.Fatalf("upstream hits %d, want 3", up.hits.Load())
	}
}
