package inject

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/alter-sidecar/alter/policy"
)

// Outbound returns the request the proxy sends upstream for in, with the
// credential injected: a copy addressed to dest (in is never modified), with
// the headers that are not the upstream's removed in the order the design
// fixes (hop-by-hop ones and those named in Connection, then every X-Alter-*
// header and Proxy-Authorization, then env.Strip; env.Upgrade is then
// announced again), its trailers dropped
// (never forwarded with a credential), and then Apply's rules. body, when
// not nil, is the body the copy sends instead of in.Body (the proxy counts
// what it forwards). An error is Apply's.
func (inj *Injector) Outbound(in *http.Request, dest policy.Destination, body io.ReadCloser, f Fields, env Env) (*http.Request, error) {
	out := in.Clone(in.Context())
	hostport := net.JoinHostPort(dest.Host, strconv.Itoa(dest.Port))
	out.URL = &url.URL{Scheme: dest.Scheme, Host: hostport, Path: in.URL.Path, RawPath: in.URL.RawPath, RawQuery: in.URL.RawQuery}
	out.Host = hostport
	if dest.Port == policy.DefaultPort(dest.Scheme) {
		out.Host = hostOnly(dest.Host)
	}
	out.RequestURI = ""
	out.Close = false
	out.Trailer = nil
	RemoveHopByHop(out.Header)
	RemoveAlterHeaders(out.Header)
	for _, k := range env.Strip {
		out.Header.Del(k)
	}
	if env.Upgrade != "" {
		SetUpgrade(out.Header, env.Upgrade)
	}
	if body != nil {
		out.Body = body
	}
	if err := inj.Apply(out, f, env); err != nil {
		return nil, err
	}
	return out, nil
}

// hostOnly is a Host header for host on its scheme's default port.
func hostOnly(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return "[" + host + "]"
	}
	return host
}
