package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// fastHeadCases are heads the fast path must take or leave to net/http.
var fastHeadCases = []struct {
	name string
	head string
	take bool
}{
	{"plain GET", "GET http://api.example.test/v1?a=1 HTTP/1.1\r\nHost: api.example.test\r\nX-Alter-Grant: g\r\n\r\n", true},
	{"POST with a length", "POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello", true},
	{"origin form", "GET /v1 HTTP/1.1\r\nHost: a.test\r\n\r\n", true},
	{"repeated field", "GET / HTTP/1.1\r\nHost: a.test\r\nAccept: a\r\nAccept: b\r\n\r\n", true},
	{"connection close", "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive, close\r\n\r\n", true},
	{"lower-case names", "GET / HTTP/1.1\r\nhost: a.test\r\ncontent-length: 0\r\n\r\n", true},

	{"incomplete", "GET / HTTP/1.1\r\nHost: a.test\r\n", false},
	{"bare LF line end", "GET / HTTP/1.1\nHost: a.test\r\n\r\n", false},
	{"bare LF head end", "GET / HTTP/1.1\r\nHost: a.test\n\n", false},
	{"bare CR", "GET / HTTP/1.1\r\nHost: a.test\rX: y\r\n\r\n", false},
	{"folded field", "GET / HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r\n 2\r\n\r\n", false},
	{"space before colon", "GET / HTTP/1.1\r\nHost: a.test\r\nContent-Length : 5\r\n\r\nhello", false},
	{"chunked", "POST / HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
	{"length and chunked", "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", false},
	{"two lengths", "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", false},
	{"signed length", "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: +5\r\n\r\nhello", false},
	{"list length", "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5, 5\r\n\r\nhello", false},
	{"huge length", "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 99999999999999999999\r\n\r\n", false},
	{"no host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", false},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", false},
	{"bad host", "GET / HTTP/1.1\r\nHost: a test\r\n\r\n", false},
	{"expect", "PUT / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n", false},
	{"upgrade", "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", false},
	{"CONNECT", "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", false},
	{"odd method", "PROPFIND / HTTP/1.1\r\nHost: a.test\r\n\r\n", false},
	{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: a.test\r\n\r\n", false},
	{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false},
	{"control in value", "GET / HTTP/1.1\r\nHost: a.test\r\nX: a\x00b\r\n\r\n", false},
	{"space in target", "GET /a b HTTP/1.1\r\nHost: a.test\r\n\r\n", false},
	{"non-ASCII target", "GET /\xff HTTP/1.1\r\nHost: a.test\r\n\r\n", false},
	{"bad name", "GET / HTTP/1.1\r\nHost: a.test\r\nX(y): 1\r\n\r\n", false},
	{"empty name", "GET / HTTP/1.1\r\nHost: a.test\r\n: 1\r\n\r\n", false},
	{"double space", "GET  / HTTP/1.1\r\nHost: a.test\r\n\r\n", false},
	{"too many fields", "GET / HTTP/1.1\r\nHost: a.test\r\n" + strings.Repeat("X: 1\r\n", fastMaxFields) + "\r\n", false},
}

func TestParseFastHead(t *testing.T) {
	for _, tc := range fastHeadCases {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := parseFastHead([]byte(tc.head))
			if ok != tc.take {
				t.Fatalf("taken = %v, want %v", ok, tc.take)
			}
			if ok {
				checkAsNetHTTP(t, []byte(tc.head))
			}
		})
	}
}

// FuzzFastHead: every head the fast path takes, net/http's server would
// take too, ending at the same byte and meaning the same request. A head
// the two read differently is how request smuggling starts.
func FuzzFastHead(f *testing.F) {
	for _, tc := range fastHeadCases {
		f.Add([]byte(tc.head))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, ok := parseFastHead(b); ok {
			checkAsNetHTTP(t, b)
		}
	})
}

// checkAsNetHTTP compares the fast path's reading of the head in b with
// net/http's, including the checks its server adds to ReadRequest.
func checkAsNetHTTP(t *testing.T, b []byte) {
	t.Helper()
	h, _ := parseFastHead(b)
	head := b[:h.size]
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		t.Fatalf("net/http refuses a head the fast path took: %v\n%q", err, head)
	}
	// The same end: without its last byte, the head is not whole for
	// net/http either.
	if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head[:len(head)-1]))); err == nil {
		t.Fatalf("net/http reads a head in %d bytes, the fast path in %d\n%q", len(head)-1, len(head), head)
	}
	// ReadRequest keeps no Host field; its server requires exactly one,
	// valid (server.go), which textproto shows.
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
	_, _ = tp.ReadLine()
	fields, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("textproto: %v", err)
	}
	hosts := fields["Host"]
	if len(hosts) != 1 || !httpguts.ValidHostHeader(hosts[0]) || hosts[0] != h.host {
		t.Fatalf("Host: net/http %q, fast path %q", hosts, h.host)
	}
	if req.URL.Host == "" && req.Host != h.host {
		t.Fatalf("request Host: net/http %q, fast path %q", req.Host, h.host)
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			t.Fatalf("field name %q taken", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				t.Fatalf("field value %q taken", v)
			}
		}
	}
	delete(req.Header, "Host")
	if req.Method != h.method || req.RequestURI != h.target || req.ProtoMajor != 1 || req.ProtoMinor != 1 {
		t.Fatalf("request line: net/http %s %s %s, fast path %s %s", req.Method, req.RequestURI, req.Proto, h.method, h.target)
	}
	if len(req.TransferEncoding) != 0 || req.ContentLength != h.contentLength {
		t.Fatalf("framing: net/http length %d %v, fast path %d", req.ContentLength, req.TransferEncoding, h.contentLength)
	}
	if req.Close != h.close {
		t.Fatalf("Close: net/http %v, fast path %v", req.Close, h.close)
	}
	if !reflect.DeepEqual(map[string][]string(req.Header), map[string][]string(h.header)) {
		t.Fatalf("fields:\nnet/http  %q\nfast path %q", req.Header, h.header)
	}
}
