package inject

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/policy"
)

// Outbound, without a proxy: what reaches the upstream is the inbound
// request minus every header that is not the upstream's, addressed to the
// allowed destination, with exactly one credential; the inbound request is
// left as it was.
func TestOutbound(t *testing.T) {
	bearer, err := Compile(Spec{Type: TypeBearer})
	if err != nil {
		t.Fatal(err)
	}
	dest := func(s string) policy.Destination {
		d, err := policy.ParseDestination(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	const secret = "sentinel-outbound-token"
	cases := []struct {
		name     string
		header   http.Header
		dest     policy.Destination
		env      Env
		wantHost string
		want     http.Header
	}{
		{"marker, proxy credentials and hop-by-hop headers removed",
			http.Header{"X-Alter-Grant": {"g"}, "x-alter-reason": {"r"}, "Proxy-Authorization": {"Basic x"},
				"Connection": {"keep-alive"}, "Keep-Alive": {"5"}, "Te": {"trailers"}, "Accept": {"*/*"}},
			dest("api.example.com"), Env{}, "api.example.com",
			http.Header{"Accept": {"*/*"}, "Authorization": {"Bearer " + secret}}},
		{"a header named in Connection is removed; the credential cannot be",
			http.Header{"Connection": {"X-Private, Authorization"}, "X-Private": {"p"}, "Authorization": {"Bearer client"}},
			dest("api.example.com"), Env{}, "api.example.com",
			http.Header{"Authorization": {"Bearer " + secret}}},
		{"the client's Authorization under another spelling is replaced",
			http.Header{"authorization": {"Bearer client"}},
			dest("api.example.com"), Env{}, "api.example.com",
			http.Header{"Authorization": {"Bearer " + secret}}},
		{"env.Strip removes Accept-Encoding",
			http.Header{"Accept-Encoding": {"gzip"}},
			dest("api.example.com"), Env{Strip: []string{"Accept-Encoding"}}, "api.example.com",
			http.Header{"Authorization": {"Bearer " + secret}}},
		{"a WebSocket handshake keeps its upgrade and Sec-WebSocket-* headers; what Connection named goes",
			http.Header{"Connection": {"Upgrade, X-Private"}, "Upgrade": {"websocket"}, "X-Private": {"p"},
				"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Version": {"13"}, "X-Alter-Grant": {"g"}},
			dest("api.example.com"), Env{Upgrade: UpgradeWebSocket}, "api.example.com",
			http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="},
				"Sec-Websocket-Version": {"13"}, "Authorization": {"Bearer " + secret}}},
		{"an upgrade the proxy was not told of is removed",
			http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}},
			dest("api.example.com"), Env{}, "api.example.com",
			http.Header{"Authorization": {"Bearer " + secret}}},
		{"another port stays in Host", http.Header{},
			dest("api.example.com:8443"), Env{}, "api.example.com:8443",
			http.Header{"Authorization": {"Bearer " + secret}}},
		{"an IPv6 destination is bracketed", http.Header{},
			dest("[2001:db8::1]"), Env{}, "[2001:db8::1]",
			http.Header{"Authorization": {"Bearer " + secret}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, _ := http.NewRequest("GET", "http://client-said.example/v1/x%2Fy?q=1", nil)
			in.Header = c.header.Clone()
			in.Trailer = http.Header{"X-Trailer": {"t"}}
			before := in.Header.Clone()
			out, err := bearer.Outbound(in, c.dest, nil, Fields{"token": secret}, c.env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out.Header, c.want) {
				t.Errorf("upstream headers %v, want %v", out.Header, c.want)
			}
			if out.Host != c.wantHost || out.URL.Scheme != c.dest.Scheme || !strings.HasSuffix(out.URL.String(), "/v1/x%2Fy?q=1") || out.Trailer != nil {
				t.Errorf("outbound %s Host %q trailer %v", out.URL, out.Host, out.Trailer)
			}
			if !reflect.DeepEqual(in.Header, before) || in.URL.Host != "client-said.example" {
				t.Errorf("the inbound request was modified: %v %s", in.Header, in.URL)
			}
		})
	}
}
