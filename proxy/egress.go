package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/alter-sidecar/alter/policy"
)

// UpstreamProxy is upstream.proxy: an HTTP proxy (a corporate egress proxy)
// that every upstream connection goes through, with and without a grant,
// from both upstream clients and for untouched tunnels. The dialer opens a
// CONNECT tunnel on it to each upstream; TLS then runs inside the tunnel,
// verified against the upstream's real name, so the proxy in between sees
// only CONNECT requests and encrypted bytes. Username and Password, when
// set, go in Proxy-Authorization: Basic on each CONNECT and nowhere else.
// The environment's proxy variables are still ignored.
type UpstreamProxy struct {
	Addr     string // host:port
	Username string
	Password string
}

// String names the proxy with its password masked.
func (u UpstreamProxy) String() string {
	if u.Addr == "" {
		return ""
	}
	v := url.URL{Scheme: "http", Host: u.Addr}
	if u.Username != "" || u.Password != "" {
		v.User = url.UserPassword(u.Username, u.Password)
	}
	return v.Redacted()
}

// GoString masks the password in %#v too.
func (u UpstreamProxy) GoString() string { return strconv.Quote(u.String()) }

// maxConnectHead bounds the CONNECT answer's head; the upstream proxy is
// the operator's, but a broken one must not cost unbounded memory.
const maxConnectHead = 64 << 10

// connectAttempts bounds how many of a name's addresses are tried when the
// upstream proxy says it could not reach one (a 5xx answer to CONNECT).
const connectAttempts = 3

// egress is the compiled UpstreamProxy.
type egress struct {
	addr string
	auth string // the Proxy-Authorization line, or ""
}

func newEgress(u *UpstreamProxy) *egress {
	if u == nil || u.Addr == "" {
		return nil
	}
	e := &egress{addr: u.Addr}
	if u.Username != "" || u.Password != "" {
		e.auth = "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(u.Username+":"+u.Password)) + "\r\n"
	}
	return e
}

// String never shows the credentials.
func (e *egress) String() string { return "upstream proxy " + e.addr }

// upstreamProxyError is a failure of the upstream proxy, not of the
// upstream: it could not be reached, or it refused the CONNECT (status).
// Its text names the proxy's address, never its credentials.
type upstreamProxyError struct {
	status int   // the proxy's answer to CONNECT; 0 when there was none
	err    error // why there was none
}

func (e *upstreamProxyError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("upstream proxy answered CONNECT with %d %s", e.status, http.StatusText(e.status))
	}
	return "upstream proxy: " + e.err.Error()
}

func (e *upstreamProxyError) Unwrap() error { return e.err }

func (e *upstreamProxyError) failure() failure {
	if e.status != 0 {
		return failure{status: http.StatusBadGateway, code: CodeUpstreamError, reason: ReasonUpstreamProxy,
			message: fmt.Sprintf("the upstream proxy (upstream.proxy) refused the tunnel: %d %s", e.status, http.StatusText(e.status))}
	}
	return failure{status: http.StatusBadGateway, code: CodeUpstreamError, message: "the upstream proxy (upstream.proxy) could not be reached or failed", reason: ReasonUpstreamProxy}
}

// dialVia connects to addr through the upstream proxy. Every name is
// resolved here, never by the proxy in between, and each address is
// checked by the dial rules before the CONNECT names it: so the address
// checked is the one connected to (a name the other proxy resolved could
// answer with an internal address, or another one than a moment ago), and
// no connection reaches the proxy's own listeners. A pinned name
// (upstream.resolve) goes to its pin, unchecked, as without a proxy.
func (d *dialer) dialVia(ctx context.Context, addr string) (net.Conn, error) {
	if to, ok := d.resolve[policy.PinKey(addr)]; ok {
		if ap, err := netip.ParseAddrPort(to); err == nil {
			if v := d.rules.CheckDial(ap, false); !v.Allowed {
				return nil, &ssrfError{class: v.Class} // a pin is never the proxy's own listener
			}
		}
		return d.connect(ctx, to)
	}
	targets, err := d.checkedAddrs(ctx, addr)
	if err != nil {
		return nil, err
	}
	var last error
	for i, t := range targets {
		if i == connectAttempts {
			break
		}
		c, err := d.connect(ctx, t.String())
		var pe *upstreamProxyError
		if err == nil || !errors.As(err, &pe) || pe.status < 500 || ctx.Err() != nil {
			return c, err
		}
		last = err // the proxy could not reach this address: try the next
	}
	return nil, last
}

// checkedAddrs resolves addr's host and returns the addresses the dial
// rules allow, in the resolver's order; none allowed is an ssrfError.
func (d *dialer) checkedAddrs(ctx context.Context, addr string) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q", portStr)
	}
	var ips []netip.Addr
	if ip, perr := netip.ParseAddr(host); perr == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	var allowed []netip.AddrPort
	var refused error
	for _, ip := range ips {
		ap := netip.AddrPortFrom(ip.Unmap(), uint16(port))
		if v := d.rules.CheckDial(ap, d.guard); !v.Allowed {
			if refused == nil {
				refused = &ssrfError{class: v.Class}
			}
			continue
		}
		allowed = append(allowed, ap)
	}
	if len(allowed) == 0 {
		if refused == nil {
			refused = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
		return nil, refused
	}
	return allowed, nil
}

// connect opens a CONNECT tunnel to target (ip:port) on the upstream
// proxy, within the dial timeout, and returns it ready for the upstream's
// bytes.
func (d *dialer) connect(ctx context.Context, target string) (net.Conn, error) {
	c, err := d.plain.DialContext(ctx, "tcp", d.via.addr)
	if err != nil {
		return nil, &upstreamProxyError{err: err}
	}
	if d.plain.Timeout > 0 {
		_ = c.SetDeadline(time.Now().Add(d.plain.Timeout))
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(aLongTimeAgo) })
	defer stop()
	if _, err := io.WriteString(c, "CONNECT "+target+" HTTP/1.1\r\nHost: "+target+"\r\n"+d.via.auth+"\r\n"); err != nil {
		c.Close()
		return nil, &upstreamProxyError{err: err}
	}
	lr := &io.LimitedReader{R: c, N: maxConnectHead}
	br := bufio.NewReader(lr)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, &upstreamProxyError{err: err}
	}
	if resp.StatusCode/100 != 2 {
		c.Close()
		return nil, &upstreamProxyError{status: resp.StatusCode}
	}
	if !stop() && ctx.Err() != nil {
		c.Close()
		return nil, ctx.Err()
	}
	_ = c.SetDeadline(time.Time{})
	lr.N = math.MaxInt64 // the head is read: the rest is the upstream's
	if br.Buffered() == 0 {
		return c, nil
	}
	return &bufferedConn{Conn: c, r: br}, nil
}
