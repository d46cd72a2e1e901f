package policy

import (
	"net/netip"
	"testing"
)

func TestCheckDial(t *testing.T) {
	local := netip.MustParseAddr("192.0.2.10") // one of "this machine's" addresses
	rules := DialRules{
		Self:         []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:8080"), netip.MustParseAddrPort("0.0.0.0:9090")},
		AllowPrivate: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("127.0.0.0/8")},
		IsLocal:      func(ip netip.Addr) bool { return ip == local },
	}
	cases := []struct {
		name      string
		addr      string
		withGrant bool
		allowed   bool
		class     string
	}{
		{"public address with a grant", "93.184.216.34:443", true, true, ""},
		{"loopback with a grant, allowed by allow_private", "127.0.0.1:443", true, true, ""},
		{"the proxy's own listener, even under allow_private", "127.0.0.1:8080", true, false, "proxy-own"},
		{"the proxy's own listener without a grant", "127.0.0.1:8080", false, false, "proxy-own"},
		{"mapped form of the own listener", "[::ffff:127.0.0.1]:8080", true, false, "proxy-own"},
		{"a listener on 0.0.0.0 covers loopback", "127.0.0.2:9090", false, false, "proxy-own"},
		{"a listener on 0.0.0.0 covers local addresses", "192.0.2.10:9090", false, false, "proxy-own"},
		{"same port elsewhere is not ours", "93.184.216.34:9090", false, true, ""},
		{"private with a grant", "10.2.0.1:443", true, false, "private"},
		{"private range the operator allowed", "10.1.2.3:443", true, true, ""},
		{"cloud metadata with a grant", "169.254.169.254:80", true, false, "link-local"},
		{"private without a grant", "10.2.0.1:443", false, true, ""},
		{"CGNAT with a grant", "100.64.0.1:443", true, false, "cgnat"},
		{"IPv6 loopback not allowed", "[::1]:443", true, false, "loopback"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := rules.CheckDial(netip.MustParseAddrPort(c.addr), c.withGrant)
			if v.Allowed != c.allowed || (!c.allowed && c.class != "" && v.Class != c.class) {
				t.Fatalf("CheckDial(%s, grant=%v) = %+v, want allowed=%v class %q", c.addr, c.withGrant, v, c.allowed, c.class)
			}
		})
	}
}
