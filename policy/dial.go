package policy

import "net/netip"

// DialRules decide which addresses the proxy may connect to. They are
// applied to the address actually dialled (after DNS, in the socket's
// connect hook), never to a name, so a DNS answer that changes between a
// check and the connection cannot slip through.
type DialRules struct {
	// Self lists the proxy's own listening addresses. No connection the
	// proxy makes, with a grant or without, may reach them: a tunnel to
	// itself would let a client's requests arrive from 127.0.0.1 and pass
	// a source_ip rule it does not meet, or reach the admin listener. A
	// listener on an unspecified address (0.0.0.0, ::) covers loopback and
	// every address IsLocal reports.
	Self []netip.AddrPort
	// AllowPrivate lists internal ranges grant-bearing requests may reach
	// anyway (the operator's choice); it never covers Self.
	AllowPrivate []netip.Prefix
	// IsLocal reports whether an address belongs to one of this machine's
	// interfaces. Nil means none do.
	IsLocal func(netip.Addr) bool
}

// DialVerdict is CheckDial's answer: Allowed, or the class of address
// refused ("loopback", "private", "proxy-own", ...), which names a range,
// never the address, so it is safe to log.
type DialVerdict struct {
	Allowed bool
	Class   string
}

// CheckDial decides a connection to ap. withGrant is true for requests that
// carry a credential: they may not reach internal addresses unless
// AllowPrivate covers them. Requests without one are only kept off the
// proxy's own listeners.
func (r DialRules) CheckDial(ap netip.AddrPort, withGrant bool) DialVerdict {
	ip := ap.Addr().Unmap()
	if !ip.IsValid() {
		return DialVerdict{Class: "unparseable"}
	}
	if r.isSelf(ip, ap.Port()) {
		return DialVerdict{Class: "proxy-own"}
	}
	if !withGrant {
		return DialVerdict{Allowed: true}
	}
	for _, p := range r.AllowPrivate {
		if p.Contains(ip) {
			return DialVerdict{Allowed: true}
		}
	}
	if class, internal := InternalAddress(ip); internal {
		return DialVerdict{Class: class}
	}
	return DialVerdict{Allowed: true}
}

func (r DialRules) isSelf(ip netip.Addr, port uint16) bool {
	for _, s := range r.Self {
		if s.Port() != port {
			continue
		}
		if s.Addr().Unmap() == ip {
			return true
		}
		if s.Addr().IsUnspecified() && (ip.IsLoopback() || (r.IsLocal != nil && r.IsLocal(ip))) {
			return true
		}
	}
	return false
}
