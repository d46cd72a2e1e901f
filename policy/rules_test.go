package policy

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustCompile(t *testing.T, s Spec) *Policy {
	t.Helper()
	p, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// req is an allowed-destination request with the given method and path.
func req(method, path string) Input {
	return Input{Scheme: "https", Host: "api.example.com", Port: 443, Method: method, Path: path,
		SourceIP: netip.MustParseAddr("10.0.0.1"), Now: time.Date(2026, 6, 3, 12, 0, 0, 0, time.UTC)}
}

func TestDecideMethod(t *testing.T) {
	p := mustCompile(t, Spec{Destinations: []string{"api.example.com"}, Methods: []string{"get", "Post"}})
	tests := []struct {
		method  string
		allowed bool
	}{
		{"GET", true}, {"get", true}, {"POST", true}, {"pOsT", true},
		{"DELETE", false}, {"", false}, {"GETX", false}, {"HEAD", false},
	}
	for _, tt := range tests {
		t.Run("method "+tt.method, func(t *testing.T) {
			d := p.Decide(req(tt.method, "/"))
			if d.Allowed != tt.allowed || (!d.Allowed && d.Rule != RuleMethod) {
				t.Fatalf("Decide(%q) = %+v, want allowed=%v", tt.method, d, tt.allowed)
			}
		})
	}
}

func TestDecidePath(t *testing.T) {
	p := mustCompile(t, Spec{Destinations: []string{"api.example.com"}, PathPrefixes: []string{"/v1/charges/", "/v1/customers"}})
	tests := []struct {
		name, path string
		allowed    bool
	}{
		{"prefix itself", "/v1/charges", true},
		{"prefix with trailing slash", "/v1/charges/", true},
		{"below prefix", "/v1/charges/ch_123", true},
		{"deep below prefix", "/v1/charges/ch_123/refunds", true},
		{"second prefix", "/v1/customers/cus_1", true},
		{"not on segment boundary", "/v1/chargesX", false},
		{"sibling", "/v1/refunds", false},
		{"parent of prefix", "/v1", false},
		{"root", "/", false},
		{"empty path is root", "", false},
		{"case differs", "/V1/charges", false},
		{"dot-dot traversal", "/v1/charges/../refunds", false},
		{"dot-dot at end", "/v1/charges/..", false},
		{"dot segment", "/v1/charges/./x", false},
		{"encoded dot-dot lower", "/v1/charges/%2e%2e/refunds", false},
		{"encoded dot-dot upper", "/v1/charges/%2E%2E/refunds", false},
		{"half encoded dot-dot", "/v1/charges/.%2e/refunds", false},
		{"double encoded dot-dot", "/v1/charges/%252e%252e/refunds", false},
		{"double encoded, once decoded", "/v1/charges/%2e%2e/refunds", false},
		{"dot-dot with parameter", "/v1/charges/..;/refunds", false},
		{"dot-dot with parameter value", "/v1/charges/..;x=1/refunds", false},
		{"dot-dot after parameter", "/v1/charges/;../refunds", false},
		{"dot-dot between parameters", "/v1/charges/a;..;b/x", false},
		{"empty segment", "/v1//charges", false},
		{"leading double slash", "//v1/charges", false},
		{"empty segment below prefix", "/v1/charges//x", false},
		{"encoded slash", "/v1%2Fcharges", false},
		{"encoded slash lower", "/v1/charges%2f..%2f..%2fadmin", false},
		{"encoded backslash", "/v1/charges/%5c..%5cadmin", false},
		{"backslash", "/v1/charges\\..\\admin", false},
		{"nul", "/v1/charges/\x00", false},
		{"encoded nul", "/v1/charges/%00", false},
		{"malformed escape", "/v1/charges/%zz", false},
		{"truncated escape", "/v1/charges/%2", false},
		{"percent left after decoding", "/v1/charges/100%", false},
		{"ordinary escape", "/v1/charges/a%20b", true},
		{"escaped letter", "/v1/charges/%61", true},
		{"escape inside the prefix", "/v%31/charges", false},
		{"escaped letter inside the prefix", "/v1/ch%61rges/x", false},
		{"escaped prefix end", "/v1/charges%2Fx", false},
		{"semicolon in segment", "/v1/charges/ch;1", true},
		{"dots in a name", "/v1/charges/a..b", true},
		{"not absolute", "v1/charges", false},
		{"asterisk form", "*", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(req("GET", tt.path))
			if d.Allowed != tt.allowed || (!d.Allowed && d.Rule != RulePath) {
				t.Fatalf("Decide(%q) = %+v, want allowed=%v", tt.path, d, tt.allowed)
			}
		})
	}
	t.Run("no prefixes: path not examined", func(t *testing.T) {
		free := mustCompile(t, Spec{Destinations: []string{"api.example.com"}})
		if d := free.Decide(req("GET", "/a//b/../c")); !d.Allowed {
			t.Fatalf("a grant without path rules refused a path: %+v", d)
		}
	})
	t.Run("a prefix that needs escaping matches its escaped form", func(t *testing.T) {
		spaced := mustCompile(t, Spec{Destinations: []string{"api.example.com"}, PathPrefixes: []string{"/a b"}})
		for _, path := range []string{"/a%20b/x", "/a b/x"} {
			if d := spaced.Decide(req("GET", path)); !d.Allowed {
				t.Fatalf("%q refused: %+v", path, d)
			}
		}
	})
	t.Run("root prefix allows canonical paths", func(t *testing.T) {
		root := mustCompile(t, Spec{Destinations: []string{"api.example.com"}, PathPrefixes: []string{"/"}})
		if d := root.Decide(req("GET", "/anything/at/all")); !d.Allowed {
			t.Fatalf("prefix / refused a path: %+v", d)
		}
	})
}

func TestDecideSourceIP(t *testing.T) {
	p := mustCompile(t, Spec{Destinations: []string{"api.example.com"}, SourceCIDRs: []string{"10.1.0.0/16", "2001:db8::/32", "192.0.2.7"}})
	tests := []struct {
		name, peer string
		allowed    bool
	}{
		{"ipv4 inside", "10.1.2.3", true},
		{"ipv4 outside", "10.2.0.1", false},
		{"ipv4 single address", "192.0.2.7", true},
		{"next to single address", "192.0.2.8", false},
		{"ipv6 inside", "2001:db8:1::5", true},
		{"ipv6 outside", "2001:db9::1", false},
		{"ipv4-mapped ipv6 matches ipv4 cidr", "::ffff:10.1.2.3", true},
		{"ipv4-mapped ipv6 outside", "::ffff:10.2.0.1", false},
		{"ipv6 with zone", "2001:db8::1%eth0", true},
		{"loopback", "127.0.0.1", false},
		{"ipv6 loopback", "::1", false},
		{"no peer", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := req("GET", "/")
			in.SourceIP = netip.Addr{}
			if tt.peer != "" {
				in.SourceIP = netip.MustParseAddr(tt.peer)
			}
			d := p.Decide(in)
			if d.Allowed != tt.allowed || (!d.Allowed && d.Rule != RuleSourceIP) {
				t.Fatalf("Decide(peer %s) = %+v, want allowed=%v", tt.peer, d, tt.allowed)
			}
			if strings.Contains(d.Reason, "10.") || strings.Contains(d.Reason, "2001") {
				t.Fatalf("reason names an address: %q", d.Reason)
			}
		})
	}
	t.Run("mapped cidr matches plain ipv4 peer", func(t *testing.T) {
		m := mustCompile(t, Spec{Destinations: []string{"api.example.com"}, SourceCIDRs: []string{"::ffff:10.0.0.0/104"}})
		in := req("GET", "/")
		in.SourceIP = netip.MustParseAddr("10.9.9.9")
		if !m.Decide(in).Allowed {
			t.Fatal("::ffff:10.0.0.0/104 did not match 10.9.9.9")
		}
	})
}

func TestDecideNotBeforeNotAfter(t *testing.T) {
	nb := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	na := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	p := mustCompile(t, Spec{Destinations: []string{"api.example.com"}, NotBefore: &nb, NotAfter: &na})
	tests := []struct {
		name    string
		now     time.Time
		allowed bool
	}{
		{"one second before not-before", nb.Add(-time.Second), false},
		{"at not-before", nb, true},
		{"one second after not-before", nb.Add(time.Second), true},
		{"one second before not-after", na.Add(-time.Second), true},
		{"at not-after", na, false},
		{"one second after not-after", na.Add(time.Second), false},
		{"no clock", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := req("GET", "/")
			in.Now = tt.now
			d := p.Decide(in)
			if d.Allowed != tt.allowed || (!d.Allowed && d.Rule != RuleTimeWindow) {
				t.Fatalf("Decide at %s = %+v, want allowed=%v", tt.now, d, tt.allowed)
			}
		})
	}
}

func TestDecideActor(t *testing.T) {
	p := mustCompile(t, Spec{Destinations: []string{"api.example.com"}, Actors: []string{"billing", "search"}})
	tests := []struct {
		name, actor string
		allowed     bool
	}{
		{"listed", "billing", true},
		{"second listed", "search", true},
		{"another client", "reports", false},
		{"case differs", "Billing", false},
		{"prefix of a listed name", "bill", false},
		{"listed name with suffix", "billing2", false},
		{"no client authentication", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := req("GET", "/")
			in.Actor = tt.actor
			d := p.Decide(in)
			if d.Allowed != tt.allowed || (!d.Allowed && d.Rule != RuleActor) {
				t.Fatalf("Decide(actor %q) = %+v, want allowed=%v", tt.actor, d, tt.allowed)
			}
			if strings.Contains(d.Reason, "billing") || strings.Contains(d.Reason, "search") {
				t.Fatalf("reason names a client: %q", d.Reason)
			}
		})
	}
	t.Run("no actors: any client, or none", func(t *testing.T) {
		free := mustCompile(t, Spec{Destinations: []string{"api.example.com"}})
		for _, actor := range []string{"", "anyone"} {
			in := req("GET", "/")
			in.Actor = actor
			if d := free.Decide(in); !d.Allowed {
				t.Fatalf("a grant without actors refused actor %q: %+v", actor, d)
			}
		}
	})
}

// TestRuleOrder: the first failing rule is named, in a documented order.
func TestRuleOrder(t *testing.T) {
	p := mustCompile(t, Spec{
		Destinations: []string{"api.example.com"}, Methods: []string{"GET"}, PathPrefixes: []string{"/v1"},
		Windows: []string{"Mon 09:00-10:00 UTC"}, SourceCIDRs: []string{"192.0.2.0/24"}, Actors: []string{"billing"},
	})
	in := Input{Scheme: "https", Host: "evil.example.com", Port: 443, Method: "DELETE", Path: "/v2",
		SourceIP: netip.MustParseAddr("10.0.0.1"), Actor: "search", Now: time.Date(2026, 6, 3, 12, 0, 0, 0, time.UTC)}
	want := []string{RuleDestination, RuleSourceIP, RuleActor, RuleTimeWindow, RuleMethod, RulePath, ""}
	for _, rule := range want {
		d := p.Decide(in)
		if d.Rule != rule || d.Allowed != (rule == "") {
			t.Fatalf("Decide(%+v) = %+v, want rule %q", in, d, rule)
		}
		switch rule {
		case RuleDestination:
			in.Host = "api.example.com"
		case RuleSourceIP:
			in.SourceIP = netip.MustParseAddr("192.0.2.1")
		case RuleActor:
			in.Actor = "billing"
		case RuleTimeWindow:
			in.Now = time.Date(2026, 6, 1, 9, 30, 0, 0, time.UTC) // a Monday
		case RuleMethod:
			in.Method = "get"
		case RulePath:
			in.Path = "/v1/x"
		}
	}
}

func TestCompileRefusesRules(t *testing.T) {
	nb := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	dest := []string{"api.example.com"}
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"method with space", Spec{Destinations: dest, Methods: []string{"GET", "PO ST"}}, "methods[1]"},
		{"empty method", Spec{Destinations: dest, Methods: []string{""}}, "methods[0]"},
		{"method with colon", Spec{Destinations: dest, Methods: []string{"GET:"}}, "methods[0]"},
		{"relative prefix", Spec{Destinations: dest, PathPrefixes: []string{"v1"}}, "path_prefixes[0]"},
		{"prefix with dot-dot", Spec{Destinations: dest, PathPrefixes: []string{"/v1/../admin"}}, "path_prefixes[0]"},
		{"prefix with escape", Spec{Destinations: dest, PathPrefixes: []string{"/v1/%2e"}}, "path_prefixes[0]"},
		{"prefix with query", Spec{Destinations: dest, PathPrefixes: []string{"/v1?x"}}, "path_prefixes[0]"},
		{"prefix with double slash", Spec{Destinations: dest, PathPrefixes: []string{"/v1//x"}}, "path_prefixes[0]"},
		{"bad cidr", Spec{Destinations: dest, SourceCIDRs: []string{"10.0.0.0/33"}}, "source_cidrs[0]"},
		{"hostname as cidr", Spec{Destinations: dest, SourceCIDRs: []string{"example.com"}}, "source_cidrs[0]"},
		{"zone in cidr", Spec{Destinations: dest, SourceCIDRs: []string{"fe80::1%eth0"}}, "source_cidrs[0]"},
		{"short mapped prefix", Spec{Destinations: dest, SourceCIDRs: []string{"::ffff:0:0/80"}}, "source_cidrs[0]"},
		{"not-before after not-after", Spec{Destinations: dest, NotBefore: &nb, NotAfter: &nb}, "not_before"},
		{"bad window", Spec{Destinations: dest, Windows: []string{"sometimes"}}, "windows[0]"},
		{"empty actor", Spec{Destinations: dest, Actors: []string{"billing", ""}}, "actors[1]"},
		{"actor with space", Spec{Destinations: dest, Actors: []string{"bill ing"}}, "actors[0]"},
		{"actor with leading space", Spec{Destinations: dest, Actors: []string{" billing"}}, "actors[0]"},
		{"actor with colon", Spec{Destinations: dest, Actors: []string{"billing:pass"}}, "actors[0]"},
		{"actor with control character", Spec{Destinations: dest, Actors: []string{"bill\x00ing"}}, "actors[0]"},
		{"actor with newline", Spec{Destinations: dest, Actors: []string{"billing\n"}}, "actors[0]"},
		{"actor with tab", Spec{Destinations: dest, Actors: []string{"bill\ting"}}, "actors[0]"},
		{"actor with no-break space", Spec{Destinations: dest, Actors: []string{"bill\u00a0ing"}}, "actors[0]"},
		{"actor not utf-8", Spec{Destinations: dest, Actors: []string{"bill\xffing"}}, "actors[0]"},
		{"actor too long", Spec{Destinations: dest, Actors: []string{strings.Repeat("a", 201)}}, "actors[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compile: %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	nb := time.Date(2026, 6, 1, 2, 0, 0, 0, time.FixedZone("x", 3600))
	got, err := Spec{
		Destinations: []string{"api.example.com", "api.example.com"},
		Methods:      []string{"get", "GET", "post"},
		PathPrefixes: []string{"/v1/", "/v2"},
		Windows:      []string{"mon-fri  09:00-17:00 Europe/Berlin"},
		SourceCIDRs:  []string{"10.1.2.3/16", "::ffff:192.0.2.1", "2001:DB8::/32"},
		Actors:       []string{"search", "billing", "search", "Billing"},
		NotBefore:    &nb,
	}.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	nbUTC := nb.UTC()
	want := Spec{
		Destinations: []string{"api.example.com"},
		Methods:      []string{"GET", "POST"},
		PathPrefixes: []string{"/v1", "/v2"},
		Windows:      []string{"Mon-Fri 09:00-17:00 Europe/Berlin"},
		SourceCIDRs:  []string{"10.1.0.0/16", "192.0.2.1/32", "2001:db8::/32"},
		Actors:       []string{"search", "billing", "Billing"},
		NotBefore:    &nbUTC,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Canonical() =\n%+v\nwant\n%+v", got, want)
	}
	if _, err := (Spec{}).Canonical(); err == nil {
		t.Fatal("Canonical accepted a spec without destinations")
	}
}

func TestCloneSharesNothing(t *testing.T) {
	nb := time.Now()
	s := Spec{Destinations: []string{"a.example.com"}, Methods: []string{"GET"}, Actors: []string{"billing"}, NotBefore: &nb}
	c := s.Clone()
	c.Destinations[0], c.Methods[0], c.Actors[0] = "b.example.com", "PUT", "search"
	*c.NotBefore = time.Time{}
	if s.Destinations[0] != "a.example.com" || s.Methods[0] != "GET" || s.Actors[0] != "billing" || s.NotBefore.IsZero() {
		t.Fatalf("Clone shares memory with the original: %+v", s)
	}
}
