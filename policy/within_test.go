package policy

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	nb := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	na := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	later, earlier := na.Add(time.Second), nb.Add(-time.Second)
	inside := nb.Add(time.Hour)
	parent := Spec{
		Destinations: []string{"api.example.com", "*.files.example.com", "http://plain.example.com:8080", "*.*.aws.example.com"},
		Methods:      []string{"GET", "POST"},
		PathPrefixes: []string{"/v1"},
		Windows:      []string{"Mon-Fri 09:00-17:00 Europe/Berlin", "Sat 22:00-02:00 Europe/Berlin"},
		SourceCIDRs:  []string{"10.0.0.0/8", "2001:db8::/32"},
		Actors:       []string{"billing", "search"},
		NotBefore:    &nb,
		NotAfter:     &na,
	}
	with := func(edit func(*Spec)) Spec { s := parent.Clone(); edit(&s); return s }
	narrower := []struct {
		name string
		spec Spec
	}{
		{"identical", parent},
		{"one destination", with(func(s *Spec) { s.Destinations = []string{"API.example.com."} })},
		{"host under wildcard", with(func(s *Spec) { s.Destinations = []string{"a.files.example.com"} })},
		{"same wildcard", with(func(s *Spec) { s.Destinations = []string{"*.files.example.com"} })},
		{"host under a two-label wildcard", with(func(s *Spec) { s.Destinations = []string{"sqs.eu-west-1.aws.example.com"} })},
		{"one of two wildcard labels fixed", with(func(s *Spec) { s.Destinations = []string{"sqs.*.aws.example.com", "*.us-east-1.aws.example.com"} })},
		{"fewer methods", with(func(s *Spec) { s.Methods = []string{"get"} })},
		{"deeper path", with(func(s *Spec) { s.PathPrefixes = []string{"/v1/charges"} })},
		{"smaller cidr", with(func(s *Spec) { s.SourceCIDRs = []string{"10.1.0.0/16", "2001:db8:1::1"} })},
		{"mapped cidr inside", with(func(s *Spec) { s.SourceCIDRs = []string{"::ffff:10.2.0.0/112"} })},
		{"fewer actors", with(func(s *Spec) { s.Actors = []string{"search"} })},
		{"same actors, other order", with(func(s *Spec) { s.Actors = []string{"search", "billing"} })},
		{"shorter window", with(func(s *Spec) { s.Windows = []string{"Tue 10:00-11:00 Europe/Berlin"} })},
		{"window spanning two parent windows' days", with(func(s *Spec) { s.Windows = []string{"Mon-Wed 09:00-17:00 Europe/Berlin"} })},
		{"part of the overnight window", with(func(s *Spec) { s.Windows = []string{"Sun 00:00-01:00 Europe/Berlin"} })},
		{"later not-before", with(func(s *Spec) { s.NotBefore = &inside })},
		{"earlier not-after", with(func(s *Spec) { s.NotAfter = &inside })},
	}
	for _, tt := range narrower {
		t.Run("narrows: "+tt.name, func(t *testing.T) {
			if err := Within(tt.spec, parent); err != nil {
				t.Fatal(err)
			}
		})
	}
	wider := []struct {
		name string
		spec Spec
		want string
	}{
		{"other host", with(func(s *Spec) { s.Destinations = []string{"evil.com"} }), "destination https://evil.com:443 is not allowed by the parent grant"},
		{"other port", with(func(s *Spec) { s.Destinations = []string{"api.example.com:8443"} }), "destination https://api.example.com:8443"},
		{"plain http of a tls host", with(func(s *Spec) { s.Destinations = []string{"http://api.example.com"} }), "destination http://api.example.com:80"},
		{"wildcard over exact", with(func(s *Spec) { s.Destinations = []string{"*.example.com"} }), "destination https://*.example.com:443"},
		{"deeper wildcard", with(func(s *Spec) { s.Destinations = []string{"a.b.files.example.com"} }), "destination https://a.b.files.example.com:443"},
		{"wildcard's own domain", with(func(s *Spec) { s.Destinations = []string{"files.example.com"} }), "destination https://files.example.com:443"},
		{"more wildcard labels", with(func(s *Spec) { s.Destinations = []string{"*.*.*.aws.example.com"} }), "destination https://*.*.*.aws.example.com:443"},
		{"fewer wildcard labels", with(func(s *Spec) { s.Destinations = []string{"*.aws.example.com"} }), "destination https://*.aws.example.com:443"},
		{"wildcard where the parent is fixed", with(func(s *Spec) { s.Destinations = []string{"*.*.example.com"} }), "destination https://*.*.example.com:443"},
		{"a fixed label made wild", with(func(s *Spec) { s.Destinations = []string{"*.*.files.example.com"} }), "destination https://*.*.files.example.com:443"},
		{"extra method", with(func(s *Spec) { s.Methods = []string{"GET", "DELETE"} }), "method DELETE is not allowed"},
		{"no method rule", with(func(s *Spec) { s.Methods = nil }), "no method restriction"},
		{"shallower path", with(func(s *Spec) { s.PathPrefixes = []string{"/"} }), "path prefix / is not allowed"},
		{"sibling path", with(func(s *Spec) { s.PathPrefixes = []string{"/v10"} }), "path prefix /v10"},
		{"no path rule", with(func(s *Spec) { s.PathPrefixes = nil }), "no path prefix restriction"},
		{"larger cidr", with(func(s *Spec) { s.SourceCIDRs = []string{"10.0.0.0/7"} }), "source CIDR 10.0.0.0/7"},
		{"any address", with(func(s *Spec) { s.SourceCIDRs = []string{"0.0.0.0/0"} }), "source CIDR 0.0.0.0/0"},
		{"other v6", with(func(s *Spec) { s.SourceCIDRs = []string{"2001:db9::/32"} }), "source CIDR 2001:db9::/32"},
		{"no source rule", with(func(s *Spec) { s.SourceCIDRs = nil }), "no source CIDR restriction"},
		{"extra actor", with(func(s *Spec) { s.Actors = []string{"billing", "reports"} }), "actor reports is not allowed by the parent grant"},
		{"actor differing in case", with(func(s *Spec) { s.Actors = []string{"Billing"} }), "actor Billing is not allowed"},
		{"no actor rule", with(func(s *Spec) { s.Actors = nil }), "no actor restriction"},
		{"longer window", with(func(s *Spec) { s.Windows = []string{"Mon-Fri 08:59-17:00 Europe/Berlin"} }), "window \"Mon-Fri 08:59-17:00 Europe/Berlin\""},
		{"window a minute late", with(func(s *Spec) { s.Windows = []string{"Fri 16:00-17:01 Europe/Berlin"} }), "window"},
		{"window on sunday", with(func(s *Spec) { s.Windows = []string{"Sun 09:00-10:00 Europe/Berlin"} }), "window"},
		{"overnight past the parent's end", with(func(s *Spec) { s.Windows = []string{"Sat 23:00-03:00 Europe/Berlin"} }), "window"},
		{"same hours other zone", with(func(s *Spec) { s.Windows = []string{"Mon 10:00-11:00 UTC"} }), "zone UTC"},
		{"no window rule", with(func(s *Spec) { s.Windows = nil }), "no time window restriction"},
		{"earlier not-before", with(func(s *Spec) { s.NotBefore = &earlier }), "not-before"},
		{"no not-before", with(func(s *Spec) { s.NotBefore = nil }), "not-before (none)"},
		{"later not-after", with(func(s *Spec) { s.NotAfter = &later }), "not-after"},
		{"no not-after", with(func(s *Spec) { s.NotAfter = nil }), "not-after (none)"},
	}
	for _, tt := range wider {
		t.Run("widens: "+tt.name, func(t *testing.T) {
			err := Within(tt.spec, parent)
			if !errors.Is(err, ErrWidens) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Within: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	t.Run("unrestricted parent allows any rule", func(t *testing.T) {
		free := Spec{Destinations: parent.Destinations}
		if err := Within(parent, free); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("child adds actors to a parent without", func(t *testing.T) {
		free := with(func(s *Spec) { s.Actors = nil })
		if err := Within(with(func(s *Spec) { s.Actors = []string{"reports"} }), free); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad child spec", func(t *testing.T) {
		if err := Within(Spec{Destinations: []string{"a/b"}}, parent); err == nil || errors.Is(err, ErrWidens) {
			t.Fatalf("Within: %v, want a compile error", err)
		}
	})
}

func TestInherit(t *testing.T) {
	nb := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	parent := Spec{Destinations: []string{"a.example.com", "b.example.com"}, Methods: []string{"GET"},
		PathPrefixes: []string{"/v1"}, Windows: []string{"* 00:00-12:00 UTC"}, SourceCIDRs: []string{"10.0.0.0/8"},
		Actors: []string{"billing"}, NotBefore: &nb}
	got := Inherit(Spec{Destinations: []string{"a.example.com"}}, parent)
	if len(got.Destinations) != 1 || got.Methods[0] != "GET" || got.PathPrefixes[0] != "/v1" ||
		got.Windows[0] != parent.Windows[0] || got.SourceCIDRs[0] != "10.0.0.0/8" || got.Actors[0] != "billing" || !got.NotBefore.Equal(nb) {
		t.Fatalf("Inherit = %+v", got)
	}
	if err := Within(got, parent); err != nil {
		t.Fatal(err)
	}
	got.Methods[0], got.Actors[0] = "PUT", "search"
	if parent.Methods[0] != "GET" || parent.Actors[0] != "billing" {
		t.Fatal("Inherit shares memory with the parent")
	}
}

func TestAll(t *testing.T) {
	parent := mustCompile(t, Spec{Destinations: []string{"api.example.com", "http://api.example.com"}, Methods: []string{"GET", "POST"}})
	child := mustCompile(t, Spec{Destinations: []string{"api.example.com"}, Methods: []string{"GET"}, PathPrefixes: []string{"/v1"}})
	narrowedParent := mustCompile(t, Spec{Destinations: []string{"api.example.com"}, Methods: []string{"POST"}})
	base := Input{Scheme: "https", Host: "api.example.com", Port: 443, Method: "GET", Path: "/v1/x", SourceIP: netip.MustParseAddr("10.0.0.1")}
	tests := []struct {
		name    string
		p       *Policy
		in      func(Input) Input
		allowed bool
		rule    string
		target  string
	}{
		{"both allow", All(child, parent), func(in Input) Input { return in }, true, "", "https://api.example.com:443"},
		{"child denies path", All(child, parent), func(in Input) Input { in.Path = "/v2"; return in }, false, RulePath, ""},
		{"child denies method the parent allows", All(child, parent), func(in Input) Input { in.Method = "POST"; return in }, false, RuleMethod, ""},
		{"narrowed parent denies what the child allows", All(child, narrowedParent), func(in Input) Input { return in }, false, RuleMethod, ""},
		// The parent allows plain http as written, the child only https: the
		// request must go upstream over TLS and both must agree to that.
		{"http upgraded by the child", All(child, parent), func(in Input) Input { in.Scheme, in.Port = "http", 80; return in }, true, "", "https://api.example.com:443"},
		{"http upgraded, parent first", All(parent, child), func(in Input) Input { in.Scheme, in.Port = "http", 80; return in }, true, "", "https://api.example.com:443"},
		{"nested All flattens", All(All(child, parent), parent), func(in Input) Input { return in }, true, "", "https://api.example.com:443"},
		{"actor-limited parent binds the clone", All(child, mustCompile(t, Spec{Destinations: []string{"api.example.com"}, Actors: []string{"billing"}})),
			func(in Input) Input { in.Actor = "search"; return in }, false, RuleActor, ""},
		{"nil member denies", All(child, nil), func(in Input) Input { return in }, false, RuleDestination, ""},
		{"empty denies", All(), func(in Input) Input { return in }, false, RuleDestination, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.p.Decide(tt.in(base))
			if d.Allowed != tt.allowed || d.Rule != tt.rule {
				t.Fatalf("Decide = %+v, want allowed=%v rule=%q", d, tt.allowed, tt.rule)
			}
			if d.Allowed && d.Target.String() != tt.target {
				t.Fatalf("target = %s, want %s", d.Target, tt.target)
			}
		})
	}
	t.Run("covers host only if all do", func(t *testing.T) {
		other := mustCompile(t, Spec{Destinations: []string{"other.example.com"}})
		if !All(child, parent).CoversHost("api.example.com", 443) || All(other, parent).CoversHost("api.example.com", 443) {
			t.Fatal("CoversHost of All is not the intersection")
		}
		if got := All(child, parent).Destinations(); len(got) != 1 {
			t.Fatalf("Destinations of All = %v, want the child's", got)
		}
	})
}
