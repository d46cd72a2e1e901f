package policy

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Pins send a host name to an address of the operator's choosing, like
// curl --resolve: the sidecar's upstream.resolve and the server's
// mint.resolve. Both configs check their entries with ParsePin and both
// dialers look names up with PinKey, so any spelling of a pinned name is
// pinned and the two never disagree on what a key is.

// ParsePin checks one pin: from is host:port, to is ip:port. It returns
// the key as PinKey spells it and to. Errors say which side is wrong.
func ParsePin(from, to string) (key, addr string, err error) {
	h, p, err := net.SplitHostPort(from)
	if err != nil || h == "" || p == "" {
		return "", "", fmt.Errorf("the key must be host:port, like curl --resolve")
	}
	ip, port, err := net.SplitHostPort(to)
	if err != nil {
		return "", "", fmt.Errorf("the value %q must be ip:port", to)
	}
	if _, err := netip.ParseAddr(ip); err != nil {
		return "", "", fmt.Errorf("the value %q must be an IP address and port", to)
	}
	if !validPort(port) {
		return "", "", fmt.Errorf("the value %q has an invalid port", to)
	}
	norm, err := NormalizeHost(h)
	if err != nil {
		return "", "", fmt.Errorf("the key: %v", err)
	}
	if !validPort(p) {
		return "", "", fmt.Errorf("the key %q has an invalid port", from)
	}
	return net.JoinHostPort(norm, p), to, nil
}

// PinKey is the key a dial address is looked up by: its host normalised
// as request hosts are. An address it cannot parse is its own key (and
// matches no pin, whose keys all parse).
func PinKey(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if n, err := NormalizeHost(host); err == nil {
		host = n
	}
	return net.JoinHostPort(host, port)
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}
