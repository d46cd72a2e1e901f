package policy

import (
	"net/netip"
	"testing"
)

func TestParseDestination(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"bare host means https 443", "api.example.com", "https://api.example.com:443"},
		{"explicit port", "api.example.com:8443", "https://api.example.com:8443"},
		{"plain http written out", "http://api.internal:8080", "http://api.internal:8080"},
		{"http default port", "http://api.internal", "http://api.internal:80"},
		{"case and trailing dot", "HTTPS://API.Example.COM.", "https://api.example.com:443"},
		{"wildcard", "*.example.com", "https://*.example.com:443"},
		{"unicode to punycode", "bücher.example", "https://xn--bcher-kva.example:443"},
		{"ipv4", "127.0.0.1:8443", "https://127.0.0.1:8443"},
		{"ipv6", "[2001:db8::1]:8443", "https://[2001:db8::1]:8443"},
		{"ipv4-mapped ipv6 unmapped", "[::ffff:10.0.0.1]", "https://10.0.0.1:443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDestination(tt.in)
			if err != nil {
				t.Fatalf("ParseDestination(%q): %v", tt.in, err)
			}
			if got := d.String(); got != tt.want {
				t.Fatalf("ParseDestination(%q) = %s, want %s", tt.in, got, tt.want)
			}
			again, err := ParseDestination(d.String())
			if err != nil || again != d {
				t.Fatalf("String() does not round-trip: %v %v", again, err)
			}
		})
	}
}

func TestParseDestinationRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"empty":                 "",
		"path":                  "api.example.com/v1",
		"userinfo":              "user@api.example.com",
		"query":                 "api.example.com?x=1",
		"ftp scheme":            "ftp://api.example.com",
		"port zero":             "api.example.com:0",
		"port too big":          "api.example.com:65536",
		"port not a number":     "api.example.com:https",
		"port with plus":        "api.example.com:+443",
		"port leading zero":     "api.example.com:0443",
		"empty port":            "api.example.com:",
		"wildcard mid label":    "api.*.example.com",
		"partial wildcard":      "a*.example.com",
		"wildcard on tld":       "*.com",
		"wildcard on ip":        "*.127.0.0.1",
		"double dot":            "api..example.com",
		"two trailing dots":     "api.example.com..",
		"space":                 "api example.com",
		"control char":          "api.exa\x01mple.com",
		"unbracketed ipv6":      "2001:db8::1",
		"decimal ip trick":      "2130706433",
		"short ip trick":        "127.1",
		"hex ip trick":          "0x7f000001",
		"percent-encoded":       "api%2eexample.com",
		"backslash":             "api.example.com\\evil.com",
		"unclosed ipv6 bracket": "[::1",
	} {
		t.Run(name, func(t *testing.T) {
			if d, err := ParseDestination(in); err == nil {
				t.Fatalf("ParseDestination(%q) = %v, want an error", in, d)
			}
		})
	}
}

func TestDestinationMatches(t *testing.T) {
	exact := mustDest(t, "api.example.com")
	wild := mustDest(t, "*.example.com")
	tests := []struct {
		name   string
		d      Destination
		scheme string
		host   string
		port   int
		want   bool
	}{
		{"exact", exact, "https", "api.example.com", 443, true},
		{"other port", exact, "https", "api.example.com", 8443, false},
		{"plain http not implied", exact, "http", "api.example.com", 443, false},
		{"look-alike suffix", exact, "https", "api.example.com.evil.net", 443, false},
		{"look-alike prefix", exact, "https", "evilapi.example.com", 443, false},
		{"subdomain of exact", exact, "https", "x.api.example.com", 443, false},
		{"wildcard one label", wild, "https", "a.example.com", 443, true},
		{"wildcard not apex", wild, "https", "example.com", 443, false},
		{"wildcard not two labels", wild, "https", "a.b.example.com", 443, false},
		{"wildcard suffix trick", wild, "https", "aexample.com", 443, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.Matches(tt.scheme, tt.host, tt.port); got != tt.want {
				t.Fatalf("%v.Matches(%s, %s, %d) = %v, want %v", tt.d, tt.scheme, tt.host, tt.port, got, tt.want)
			}
		})
	}
}

func TestNormalizeAuthority(t *testing.T) {
	tests := []struct {
		name, scheme, in, host string
		port                   int
		bad                    bool
	}{
		{"default https port", "https", "API.example.com", "api.example.com", 443, false},
		{"default http port", "http", "api.example.com", "api.example.com", 80, false},
		{"trailing dot", "https", "api.example.com.:443", "api.example.com", 443, false},
		{"ipv6", "https", "[::1]:8443", "::1", 8443, false},
		{"mapped ipv6", "https", "[::ffff:127.0.0.1]:443", "127.0.0.1", 443, false},
		{"fullwidth dot unicode", "https", "api\uff0eexample.com", "api.example.com", 443, false},
		{"zone id", "https", "[fe80::1%25eth0]:443", "", 0, true},
		{"garbage port", "https", "api.example.com:80x", "", 0, true},
		{"empty", "https", "", "", 0, true},
		{"numeric ip trick", "http", "017700000001", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, port, err := NormalizeAuthority(tt.scheme, tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("NormalizeAuthority(%q) = %s %d, want error", tt.in, host, port)
				}
				return
			}
			if err != nil || host != tt.host || port != tt.port {
				t.Fatalf("NormalizeAuthority(%q) = %q %d %v, want %q %d", tt.in, host, port, err, tt.host, tt.port)
			}
		})
	}
}

func TestInternalAddress(t *testing.T) {
	for _, tt := range []struct {
		ip       string
		internal bool
	}{
		{"127.0.0.1", true}, {"10.1.2.3", true}, {"172.16.0.1", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"100.64.0.1", true}, {"0.0.0.0", true}, {"::1", true},
		{"::ffff:127.0.0.1", true}, {"fd00::1", true}, {"fe80::1", true}, {"::", true},
		{"64:ff9b::7f00:1", true}, {"224.0.0.1", true},
		{"93.184.216.34", false}, {"2606:4700::1111", false}, {"8.8.8.8", false},
	} {
		t.Run(tt.ip, func(t *testing.T) {
			_, got := InternalAddress(netip.MustParseAddr(tt.ip))
			if got != tt.internal {
				t.Fatalf("InternalAddress(%s) = %v, want %v", tt.ip, got, tt.internal)
			}
		})
	}
}

func mustDest(t *testing.T, s string) Destination {
	t.Helper()
	d, err := ParseDestination(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func FuzzNormalizeAuthority(f *testing.F) {
	for _, s := range []string{"api.example.com", "[::1]:443", "API.EXAMPLE.COM.:8443", "bücher.example", "*.x.com", "127.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		host, port, err := NormalizeAuthority("https", in)
		if err != nil {
			return
		}
		if port < 1 || port > 65535 {
			t.Fatalf("port %d out of range for %q", port, in)
		}
		// Normalising is idempotent: the normal form is its own normal form.
		again, err := NormalizeHost(host)
		if err != nil || again != host {
			t.Fatalf("NormalizeHost(%q) = %q, %v; not idempotent (input %q)", host, again, err, in)
		}
	})
}
