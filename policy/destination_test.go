package policy

import (
	"net/netip"
	"strings"
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
		{"two wildcard labels", "*.*.amazonaws.com", "https://*.*.amazonaws.com:443"},
		{"four wildcard labels", "*.*.*.*.amazonaws.com", "https://*.*.*.*.amazonaws.com:443"},
		{"wildcard mid name", "sqs.*.amazonaws.com", "https://sqs.*.amazonaws.com:443"},
		{"wildcard pattern case, dot, unicode", "*.*.Bücher.Example.", "https://*.*.xn--bcher-kva.example:443"},
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
		"partial wildcard":      "a*.example.com",
		"partial wildcard mid":  "api.a*.example.com",
		"star then dot only":    "*.",
		"wildcard on tld":       "*.com",
		"two wildcards on tld":  "*.*.com",
		"wildcard in last two":  "api.*.com",
		"wildcard as tld":       "api.example.*",
		"only wildcards":        "*.*",
		"five wildcard labels":  "*.*.*.*.*.amazonaws.com",
		"wildcard on ip":        "*.127.0.0.1",
		"wildcard mid ip":       "127.*.0.1",
		"wildcard empty label":  "*..example.com",
		"double star label":     "**.example.com",
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
	wild2 := mustDest(t, "*.*.amazonaws.com")
	mid := mustDest(t, "sqs.*.amazonaws.com")
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
		{"two labels: regional endpoint", wild2, "https", "sqs.eu-west-1.amazonaws.com", 443, true},
		{"two labels: not one", wild2, "https", "s3.amazonaws.com", 443, false},
		{"two labels: not three", wild2, "https", "bucket.s3.us-east-1.amazonaws.com", 443, false},
		{"two labels: not the apex", wild2, "https", "amazonaws.com", 443, false},
		{"two labels: look-alike suffix", wild2, "https", "sqs.eu-west-1.amazonaws.com.evil.net", 443, false},
		{"two labels: suffix glued to a label", wild2, "https", "sqs.eu-west-1xamazonaws.com", 443, false},
		{"two labels: base glued", wild2, "https", "a.b.evilamazonaws.com", 443, false},
		{"mid: any region", mid, "https", "sqs.us-east-2.amazonaws.com", 443, true},
		{"mid: other service", mid, "https", "sns.us-east-2.amazonaws.com", 443, false},
		{"mid: service as suffix", mid, "https", "xsqs.us-east-2.amazonaws.com", 443, false},
		{"mid: missing region", mid, "https", "sqs.amazonaws.com", 443, false},
		{"mid: extra label", mid, "https", "sqs.a.b.amazonaws.com", 443, false},
		{"wildcard never an ip", mustDest(t, "*.0.0.example.com"), "https", "1.0.0.example.com", 443, true},
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

// FuzzDestinationPattern checks what a host pattern may match, for any
// pattern the parser accepts and any host a request can name: exactly as
// many labels, every fixed label equal, never an IP address, and the last
// two labels always fixed, so no pattern reaches a name deeper than it is
// written or another registrable domain.
func FuzzDestinationPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"*.*.amazonaws.com", "sqs.eu-west-1.amazonaws.com"},
		{"sqs.*.amazonaws.com", "sqs.us-east-1.amazonaws.com"},
		{"*.example.com", "a.b.example.com"},
		{"*.0.0.example.com", "1.0.0.example.com"},
		{"*.*.Bücher.example", "a.b.xn--bcher-kva.example"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, hostport string) {
		d, err := ParseDestination(pattern)
		if err != nil {
			return
		}
		again, err := ParseDestination(d.String())
		if err != nil || again != d {
			t.Fatalf("%q does not round-trip: %v %v", pattern, again, err)
		}
		host, _, err := NormalizeAuthority("https", hostport)
		if err != nil || !d.MatchesHost(host) {
			return
		}
		if !d.Wildcard() {
			if host != d.Host {
				t.Fatalf("%s matched %q", d.Host, host)
			}
			return
		}
		if _, isIP := parseIP(host); isIP {
			t.Fatalf("%s matched the IP address %q", d.Host, host)
		}
		pl, hl := strings.Split(d.Host, "."), strings.Split(host, ".")
		if len(pl) != len(hl) {
			t.Fatalf("%s matched %q with another number of labels", d.Host, host)
		}
		for i := range pl {
			if pl[i] != "*" && pl[i] != hl[i] {
				t.Fatalf("%s matched %q: label %d differs", d.Host, host, i)
			}
		}
		if n := len(pl); pl[n-1] == "*" || pl[n-2] == "*" {
			t.Fatalf("%s has a wildcard among its last two labels", d.Host)
		}
	})
}
