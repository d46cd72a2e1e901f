package wire

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// ParseURL checks a server URL: https, or http to a loopback address only,
// no user info, query or fragment. The error names the problem, and
// never repeats user info (it could hold a password).
func ParseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("server URL must look like https://host[:port]")
	}
	if u.User != nil {
		return nil, errors.New("server URL must not carry user info; the token comes from a file or variable")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return nil, errors.New("server URL must not have a query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !LoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("server URL %s://%s: plain http is allowed to a loopback address only; use https", u.Scheme, u.Host)
		}
	default:
		return nil, errors.New("server URL must start with https://")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// LoopbackHost reports whether host is localhost or a loopback address: the
// only place plain http to the server is allowed.
func LoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
