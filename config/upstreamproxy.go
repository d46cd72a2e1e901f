package config

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// UpstreamProxy is upstream.proxy: the HTTP proxy (a corporate egress
// proxy) every upstream connection is tunnelled through with CONNECT. The
// zero value means none; the environment's proxy variables are never read.
// Its password is never printed: String, GoString, LogValue and
// MarshalJSON mask it.
type UpstreamProxy struct {
	Addr     string // host:port
	Username string
	password string
}

// Password is the password for Proxy-Authorization, or "".
func (u UpstreamProxy) Password() string { return u.password }

// String is the proxy's URL with the password masked.
func (u UpstreamProxy) String() string {
	if u.Addr == "" {
		return ""
	}
	return u.url().Redacted()
}

// GoString masks the password in %#v too.
func (u UpstreamProxy) GoString() string { return strconv.Quote(u.String()) }

// LogValue masks the password in structured logs.
func (u UpstreamProxy) LogValue() slog.Value { return slog.StringValue(u.String()) }

// MarshalJSON masks the password.
func (u UpstreamProxy) MarshalJSON() ([]byte, error) { return json.Marshal(u.String()) }

func (u UpstreamProxy) url() *url.URL {
	v := &url.URL{Scheme: "http", Host: u.Addr}
	if u.Username != "" || u.password != "" {
		v.User = url.UserPassword(u.Username, u.password)
	}
	return v
}

// parseUpstreamProxy reads http://[user:password@]host:port. Its errors
// never repeat the value, which may hold a password.
func parseUpstreamProxy(s string) (UpstreamProxy, error) {
	if s == "" {
		return UpstreamProxy{}, nil
	}
	const form = "http://[user:password@]host:port, e.g. http://proxy.internal:3128"
	u, err := url.Parse(s)
	if err != nil {
		return UpstreamProxy{}, errors.New("is not a URL of the form " + form + " (user and password percent-encoded)")
	}
	switch {
	case u.Scheme != "http":
		return UpstreamProxy{}, errors.New("must be an http:// URL: the proxy is spoken to in HTTP, and TLS to each upstream runs inside its CONNECT tunnel")
	case u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return UpstreamProxy{}, errors.New("must be just " + form)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return UpstreamProxy{}, errors.New("must name the host and port: " + form)
	}
	if strings.ContainsAny(host, " \t/\\") {
		return UpstreamProxy{}, errors.New("has an invalid host name")
	}
	p := UpstreamProxy{Addr: net.JoinHostPort(host, port)}
	if u.User != nil {
		p.Username = u.User.Username()
		p.password, _ = u.User.Password()
	}
	return p, nil
}
