package policy

import (
	"strings"
	"testing"
)

// TestParsePin: the sidecar's upstream.resolve and the server's
// mint.resolve entries, checked by one function; the key is spelled as
// PinKey spells a dial address, so any spelling of the name finds it.
func TestParsePin(t *testing.T) {
	cases := []struct {
		name, from, to, key, err string
	}{
		{"plain", "api.example.com:443", "10.0.0.5:8443", "api.example.com:443", ""},
		{"case and trailing dot", "API.Example.COM.:443", "127.0.0.1:1", "api.example.com:443", ""},
		{"ipv6 value", "api.example.com:443", "[::1]:443", "api.example.com:443", ""},
		{"no port in the key", "api.example.com", "10.0.0.5:443", "", "the key must be host:port"},
		{"no host in the key", ":443", "10.0.0.5:443", "", "the key must be host:port"},
		{"bad port in the key", "api.example.com:99999", "10.0.0.5:443", "", "the key \"api.example.com:99999\" has an invalid port"},
		{"name as the value", "api.example.com:443", "idp.internal:443", "", "must be an IP address and port"},
		{"no port in the value", "api.example.com:443", "10.0.0.5", "", "must be ip:port"},
		{"bad port in the value", "api.example.com:443", "10.0.0.5:0", "", "has an invalid port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, to, err := ParsePin(tc.from, tc.to)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || key != tc.key || to != tc.to {
				t.Fatalf("got %q %q %v, want %q %q", key, to, err, tc.key, tc.to)
			}
			if got := PinKey(tc.from); got != key {
				t.Fatalf("PinKey(%q) = %q, want the pin's key %q", tc.from, got, key)
			}
		})
	}
	if got := PinKey("not an address"); got != "not an address" {
		t.Fatalf("PinKey of an unparseable address: %q", got)
	}
}
