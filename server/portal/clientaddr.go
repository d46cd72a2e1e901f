package portal

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address a request is attributed to (the login limiter,
// the log line). It is the TCP peer, never a client-sent header, unless
// the peer is one of Config.TrustedProxies: then it is the right-most
// X-Forwarded-For entry that is not a trusted proxy (entries left of it
// were written by whoever sent the request, so they prove nothing). A
// trusted peer without a usable header is itself the client.
func (p *Portal) clientAddr(r *http.Request) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	if len(p.cfg.TrustedProxies) == 0 || !p.trusted(peer) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a hop we cannot read: stop at what we know
		}
		if !p.trusted(ip.String()) {
			return ip.Unmap().String()
		}
	}
	return peer
}

func (p *Portal) trusted(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, pr := range p.cfg.TrustedProxies {
		if pr.Contains(ip) {
			return true
		}
	}
	return false
}
