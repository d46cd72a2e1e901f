package wire_test

import (
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/server/wire"
)

func TestParseURL(t *testing.T) {
	cases := []struct {
		name, url string
		ok        bool
	}{
		{"https", "https://alter.example.com:8443", true},
		{"https with path", "https://alter.example.com/base/", true},
		{"http loopback", "http://127.0.0.1:8080", true},
		{"http localhost", "http://localhost:8080", true},
		{"http ipv6 loopback", "http://[::1]:8080", true},
		{"http remote", "http://alter.example.com", false},
		{"user info", "https://user:pw@alter.example.com", false},
		{"query", "https://alter.example.com/?x=1", false},
		{"no scheme", "alter.example.com", false},
		{"ftp", "ftp://alter.example.com", false},
		{"empty", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := wire.ParseURL(tc.url)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseURL(%q) err = %v, want ok=%v", tc.url, err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), "pw@") {
				t.Errorf("error repeats user info: %v", err)
			}
		})
	}
}
