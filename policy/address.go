package policy

import (
	"net/netip"
)

// Address ranges a credential must never be sent to unless the operator says
// so: they reach this machine, its network, or a cloud metadata service.
var internalPrefixes = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "cgnat"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "ietf-protocol"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("64:ff9b::/96"), "nat64"}, // embeds an IPv4 address we would not check
	{netip.MustParsePrefix("64:ff9b:1::/48"), "nat64"},
	{netip.MustParsePrefix("2002::/16"), "6to4"}, // likewise
	{netip.MustParsePrefix("fc00::/7"), "unique-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// InternalAddress reports whether ip lies in a range the SSRF guard refuses
// for grant-bearing requests, and names the range. IPv4-mapped IPv6 addresses
// are judged as the IPv4 address they carry.
func InternalAddress(ip netip.Addr) (string, bool) {
	if !ip.IsValid() {
		return "invalid", true
	}
	ip = ip.Unmap()
	for _, r := range internalPrefixes {
		if r.prefix.Contains(ip) {
			return r.name, true
		}
	}
	return "", false
}
