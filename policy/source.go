package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// Source addresses are matched against the TCP peer of the connection the
// request arrived on, which the proxy puts in Input.SourceIP. A header such
// as X-Forwarded-For is never consulted: the client writes it.

// parseSource parses a CIDR ("10.0.0.0/8", "2001:db8::/32") or a single
// address ("10.1.2.3", "2001:db8::1"). An IPv4-mapped IPv6 prefix
// ("::ffff:10.0.0.0/104") is turned into its IPv4 form, because peers are
// unmapped before matching; host bits are cleared.
func parseSource(s string) (netip.Prefix, error) {
	raw := strings.TrimSpace(s)
	if raw == "" {
		return netip.Prefix{}, fmt.Errorf("empty address")
	}
	var pfx netip.Prefix
	if strings.Contains(raw, "/") {
		p, err := netip.ParsePrefix(raw)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR: %v", raw, err)
		}
		pfx = p
	} else {
		a, err := netip.ParseAddr(raw)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR: %v", raw, err)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q has an IPv6 zone; zones are not allowed", raw)
		}
		pfx = netip.PrefixFrom(a, a.BitLen())
	}
	a := pfx.Addr()
	if a.Is4In6() {
		if pfx.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix needs at least 96 bits", raw)
		}
		pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
	}
	return pfx.Masked(), nil
}

// allowsSource reports whether the peer address is in one of the CIDRs. An
// empty list allows any peer; with a list, an unknown peer is denied.
func (p *Policy) allowsSource(peer netip.Addr) bool {
	if len(p.sources) == 0 {
		return true
	}
	if !peer.IsValid() {
		return false
	}
	peer = peer.Unmap().WithZone("")
	for _, n := range p.sources {
		if n.Contains(peer) {
			return true
		}
	}
	return false
}

// prefixWithin reports whether every address of child is in parent.
func prefixWithin(child, parent netip.Prefix) bool {
	return child.Addr().Is4() == parent.Addr().Is4() &&
		parent.Bits() <= child.Bits() && parent.Contains(child.Addr())
}
