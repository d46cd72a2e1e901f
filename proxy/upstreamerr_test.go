package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/inject"
)

// Each way an upstream can fail gets its own reason in the answer, so a
// client (or the person reading its log) knows whether to fix DNS, a port,
// a CA or wait; the answer never names an address.
func TestUpstreamFailureReasons(t *testing.T) {
	hijack := func(write string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte(write))
			_ = c.Close()
		})
	}
	cases := []struct {
		name   string
		setup  func(e *env) // points api.example.test:443 somewhere
		status int
		code   string
		reason string
	}{
		{"nothing listens", func(e *env) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			e.resolve["api.example.test:443"] = ln.Addr().String()
			_ = ln.Close()
		}, 502, CodeUpstreamError, ReasonRefused},
		{"certificate from an unknown CA", func(e *env) {
			srv := httptest.NewTLSServer(http.NotFoundHandler())
			t.Cleanup(srv.Close)
			e.resolve["api.example.test:443"] = srv.Listener.Addr().String()
		}, 502, CodeUpstreamError, ReasonCertificate},
		{"certificate for another name", func(e *env) {
			up := e.tlsUpstream("other.example.test", nil)
			e.resolve["api.example.test:443"] = up.srv.Listener.Addr().String()
		}, 502, CodeUpstreamError, ReasonCertificate},
		{"hangs up before answering", func(e *env) {
			e.tlsUpstream("api.example.test", hijack(""))
		}, 502, CodeUpstreamError, ReasonClosed},
		{"answers something that is not HTTP", func(e *env) {
			e.tlsUpstream("api.example.test", hijack("SSH-2.0-OpenSSH_9.2\r\n\r\n"))
		}, 502, CodeUpstreamError, ReasonProtocol},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			c.setup(e)
			e.addGrant(grantA, bearer, inject.Fields{"token": sentinel}, "api.example.test")
			resp, body := e.do("GET", "https://api.example.test/", http.Header{"X-Alter-Grant": {grantA}})
			var got errorBody
			_ = json.Unmarshal(body, &got)
			if resp.StatusCode != c.status || got.Error != c.code || got.Reason != c.reason {
				t.Fatalf("want %d %s/%s, got %d %s", c.status, c.code, c.reason, resp.StatusCode, body)
			}
			if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "api.example.test") {
				t.Errorf("the answer names an address: %s", body)
			}
			e.checkLogsAndAudit()
		})
	}
}

// The errors the resolver and the dialer return, as both upstream clients
// wrap them, map to the same reasons.
func TestClassifyWrappedErrors(t *testing.T) {
	dial := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://api.example.test/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: err}}
	}
	cases := []struct {
		name   string
		err    error
		code   string
		reason string
	}{
		{"no such host", dial(&net.DNSError{Err: "no such host", Name: "api.example.test", IsNotFound: true}), CodeUpstreamError, ReasonDNS},
		{"resolver timed out", dial(&net.DNSError{Err: "i/o timeout", Name: "api.example.test", IsTimeout: true}), CodeUpstreamTimeout, ReasonConnect},
		{"connect timed out", dial(timeoutErr{}), CodeUpstreamTimeout, ReasonConnect},
		{"read timed out", &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, CodeUpstreamTimeout, ReasonResponse},
		{"cancelled while waiting", fmt.Errorf("round trip: %w", context.Canceled), CodeUpstreamError, ""},
		{"unclassified", fmt.Errorf("something else"), CodeUpstreamError, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if f := classify(c.err); f.code != c.code || f.reason != c.reason {
				t.Fatalf("classify = %s/%s, want %s/%s", f.code, f.reason, c.code, c.reason)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }
