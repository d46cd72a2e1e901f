package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/config"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// How long doctor waits for one connection, request or lookup.
const doctorNetTimeout = 3 * time.Second

// doctorListeners checks that a proxy answers where the config says: a
// TCP connection to listen, and /healthz and /readyz on admin_listen.
func doctorListeners(ctx context.Context, d *doctor, cfg config.Config) {
	addr, ok := dialable(d, "proxy", cfg.Listen)
	if ok {
		conn, err := (&net.Dialer{Timeout: doctorNetTimeout}).DialContext(ctx, "tcp", addr)
		if err != nil {
			d.report(levelFail, "proxy", "nothing answers on %s (listen): start it with \"alter proxy\" (%v)", addr, err)
		} else {
			conn.Close()
			d.report(levelOK, "proxy", "%s (listen) accepts connections", addr)
		}
	}
	if cfg.AdminListen == "" {
		d.report(levelSkip, "admin", "admin_listen is off: no /healthz or /readyz to ask")
		return
	}
	addr, ok = dialable(d, "admin", cfg.AdminListen)
	if !ok {
		return
	}
	c := &http.Client{Timeout: doctorNetTimeout, Transport: &http.Transport{Proxy: nil}}
	for _, path := range []string{"/healthz", "/readyz"} {
		status, body, err := adminGet(ctx, c, "http://"+addr+path)
		switch {
		case err != nil:
			d.report(levelFail, "admin", "GET %s on %s (admin_listen): %v", path, addr, err)
			return // the other path will not answer either
		case status != http.StatusOK:
			d.report(levelFail, "admin", "GET %s on %s: %d %s", path, addr, status, body)
		default:
			d.report(levelOK, "admin", "GET %s on %s: %s", path, addr, body)
		}
	}
}

// dialable turns a listen address into one to connect to: an empty or
// unspecified host is this machine. Port 0 is picked at start, so there
// is nothing to check.
func dialable(d *doctor, what, listen string) (string, bool) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		d.report(levelFail, what, "%q is not host:port", listen)
		return "", false
	}
	if port == "0" {
		d.report(levelSkip, what, "%s: port 0 is picked when the proxy starts; nothing fixed to check", listen)
		return "", false
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), true
}

func adminGet(ctx context.Context, c *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}

// doctorDNS checks that each host an active grant may reach resolves to
// an address the proxy will dial. Names pinned with upstream.resolve are
// not looked up (the proxy does not look them up either); wildcards name
// no one host. A failed lookup is a warning: the host may be down or
// this machine offline, and only requests to it fail.
func doctorDNS(ctx context.Context, d *doctor, up config.Upstream, grants []secretstore.GrantInfo) {
	for _, dst := range grantHosts(grants) {
		what := "dns " + net.JoinHostPort(dst.Host, strconv.Itoa(dst.Port))
		key := net.JoinHostPort(dst.Host, strconv.Itoa(dst.Port))
		switch ip, err := netip.ParseAddr(dst.Host); {
		case dst.Wildcard():
			d.report(levelSkip, what, "a wildcard: no one host to look up")
		case up.Resolve[key] != "":
			d.report(levelOK, what, "pinned to %s by upstream.resolve", up.Resolve[key])
		case err == nil:
			d.reportAddrs(what, up, []netip.Addr{ip}, "an IP address")
		default:
			lctx, cancel := context.WithTimeout(ctx, doctorNetTimeout)
			addrs, err := net.DefaultResolver.LookupNetIP(lctx, "ip", dst.Host)
			cancel()
			if err != nil {
				d.report(levelWarn, what, "lookup failed: %v (requests with its grants get 502 until it resolves)", err)
				continue
			}
			d.reportAddrs(what, up, addrs, fmt.Sprintf("resolves to %d address(es)", len(addrs)))
		}
	}
}

// reportAddrs warns when the SSRF guard would refuse every address (the
// name is not pinned, so it applies): loopback, private and the like,
// unless upstream.allow_private lists them.
func (d *doctor) reportAddrs(what string, up config.Upstream, addrs []netip.Addr, found string) {
	var refused []string
	for _, ip := range addrs {
		if name, internal := policy.InternalAddress(ip); internal && !allowedPrivate(up.AllowPrivate, ip) {
			refused = append(refused, ip.Unmap().String()+" ("+name+")")
		}
	}
	if len(refused) == len(addrs) {
		d.report(levelWarn, what, "%s: %s; the proxy refuses such addresses for grant requests unless upstream.allow_private lists them or upstream.resolve pins the name",
			found, strings.Join(refused, ", "))
		return
	}
	d.report(levelOK, what, "%s (%s)", found, addrs[0].Unmap())
}

func allowedPrivate(allowed []netip.Prefix, ip netip.Addr) bool {
	for _, p := range allowed {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// doctorUpstreamProxy checks upstream.proxy: that it accepts a connection
// and, when a grant names a host, that it opens a CONNECT tunnel to it with
// the configured credentials (a 407 means they are wrong). The sidecar
// resolves names itself and CONNECTs to the address, so the DNS checks
// above still apply. The password is never printed.
func doctorUpstreamProxy(ctx context.Context, d *doctor, up config.Upstream, grants []secretstore.GrantInfo) {
	px := up.Proxy
	if px.Addr == "" {
		return
	}
	const what = "upstream.proxy"
	dctx, cancel := context.WithTimeout(ctx, doctorNetTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", px.Addr)
	if err != nil {
		d.report(levelFail, what, "%s does not accept connections: %v (every grant request gets 502 upstream_proxy)", px.Addr, err)
		return
	}
	defer conn.Close()
	target := ""
	for _, dst := range grantHosts(grants) {
		if !dst.Wildcard() {
			target = net.JoinHostPort(dst.Host, strconv.Itoa(dst.Port))
			break
		}
	}
	if target == "" {
		d.report(levelOK, what, "%s accepts connections (no grant host to CONNECT to)", px.Addr)
		return
	}
	if dl, ok := dctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if px.Username != "" || px.Password() != "" {
		req += "Proxy-Authorization: Basic " + basicAuth(px.Username, px.Password()) + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		d.report(levelFail, what, "%s: sending a CONNECT failed: %v", px.Addr, err)
		return
	}
	line, err := readStatusLine(conn)
	switch {
	case err != nil:
		d.report(levelFail, what, "%s did not answer a CONNECT to %s: %v", px.Addr, target, err)
	case strings.HasPrefix(line, "HTTP/1.1 200") || strings.HasPrefix(line, "HTTP/1.0 200"):
		d.report(levelOK, what, "%s opens tunnels (CONNECT %s: 200)", px.Addr, target)
	case strings.Contains(line, " 407"):
		d.report(levelFail, what, "%s wants other credentials (CONNECT %s: 407); check the user and password in upstream.proxy", px.Addr, target)
	default:
		d.report(levelWarn, what, "%s refused CONNECT %s: %q", px.Addr, target, line)
	}
}

// readStatusLine reads the first line of an HTTP answer, at most 512 bytes.
func readStatusLine(r io.Reader) (string, error) {
	var b strings.Builder
	one := make([]byte, 1)
	for b.Len() < 512 {
		if _, err := r.Read(one); err != nil {
			return b.String(), err
		}
		if one[0] == '\n' {
			return strings.TrimRight(b.String(), "\r"), nil
		}
		b.WriteByte(one[0])
	}
	return b.String(), nil
}

func basicAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}
