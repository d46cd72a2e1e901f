package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/alter-sidecar/alter/policy"
)

// UpstreamOptions configure how the proxy reaches upstream servers.
type UpstreamOptions struct {
	// RootCAs verifies upstream certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// Resolve pins "host:port" (normalised) to "ip:port", like curl --resolve.
	// A pinned address is the operator's choice and is not refused by the
	// SSRF guard.
	Resolve map[string]string
	// AllowPrivate lists internal ranges grants may reach anyway.
	AllowPrivate []netip.Prefix
	// Self lists the proxy's own listening addresses, which grant-bearing
	// requests may never reach even when AllowPrivate covers them.
	Self                  []netip.AddrPort
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
	// HTTP2 sends grant-bearing requests with net/http.Transport, which
	// negotiates HTTP/2 with upstreams that offer it. By default they go
	// through the HTTP/1.1 client in proxy/internal/h1, which costs less CPU per
	// request (no per-connection goroutines).
	HTTP2 bool
	// Proxy, when set, is the HTTP proxy every upstream connection is
	// tunnelled through (egress.go).
	Proxy *UpstreamProxy
}

// LoadRootCAs returns the system roots plus the PEM certificates in caFile.
func LoadRootCAs(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("upstream.ca_file %s: %w", caFile, err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("upstream.ca_file %s: no PEM certificate found", caFile)
	}
	return pool, nil
}

// ssrfError is returned by the guarded dialer when the resolved address is
// one grants may not reach. Its text names the range, not the address, so
// it is safe to log at info level.
type ssrfError struct{ class string }

func (e *ssrfError) Error() string { return "refused to dial a " + e.class + " address" }

// dialer dials upstream connections. The guarded variant checks the address
// in the socket's Control hook, i.e. after DNS resolution and immediately
// before connect(2), so the checked address is the dialled one and a DNS
// answer that changes between check and use cannot slip through.
//
// With an upstream proxy (via), every connection is a CONNECT tunnel on it,
// and the same rules are applied to the addresses the dialer resolves
// before it names one in the CONNECT (egress.go). plain then dials the
// upstream proxy itself, which is kept off the proxy's own listeners only.
type dialer struct {
	resolve map[string]string
	rules   policy.DialRules
	plain   net.Dialer
	guarded net.Dialer
	guard   bool
	via     *egress // nil: connect directly
}

func newDialer(o UpstreamOptions, guard bool) *dialer {
	d := &dialer{resolve: o.Resolve, guard: guard, via: newEgress(o.Proxy),
		rules: policy.DialRules{Self: o.Self, AllowPrivate: o.AllowPrivate, IsLocal: isLocalAddr}}
	check := func(address string, withGrant bool) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			if !withGrant {
				return nil // as before: only grant requests fail closed here
			}
			return &ssrfError{class: "unparseable"}
		}
		if v := d.rules.CheckDial(ap, withGrant); !v.Allowed {
			return &ssrfError{class: v.Class}
		}
		return nil
	}
	d.plain = net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	d.plain.ControlContext = func(_ context.Context, _, address string, _ syscall.RawConn) error {
		return check(address, false)
	}
	d.guarded = d.plain
	d.guarded.ControlContext = func(_ context.Context, _, address string, _ syscall.RawConn) error {
		return check(address, true)
	}
	return d
}

// isLocalAddr reports whether ip belongs to one of this machine's
// interfaces (a proxy listening on 0.0.0.0 is reachable on all of them).
func isLocalAddr(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // fail closed: treat as ours
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == ip {
			return true
		}
	}
	return false
}

// DialContext dials addr, honouring upstream.resolve first.
func (d *dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.via != nil {
		return d.dialVia(ctx, addr)
	}
	if len(d.resolve) > 0 {
		if to, ok := d.resolve[policy.PinKey(addr)]; ok {
			return d.plain.DialContext(ctx, network, to)
		}
	}
	if d.guard {
		return d.guarded.DialContext(ctx, network, addr)
	}
	return d.plain.DialContext(ctx, network, addr)
}

// newTransport builds the proxy's own upstream transport: verified TLS, no
// environment proxy variables (Proxy is nil on purpose), pooled keep-alive
// connections, timeouts, and no transparent decompression so bodies pass
// through byte for byte.
func newTransport(o UpstreamOptions, d *dialer) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.DialTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}
