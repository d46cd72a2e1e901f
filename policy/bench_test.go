package policy

import (
	"net/netip"
	"testing"
	"time"
)

func BenchmarkDecide(b *testing.B) {
	cases := map[string]Spec{
		"destination only": {Destinations: []string{"api.example.com", "*.example.net"}},
		"every rule": {Destinations: []string{"api.example.com"}, Methods: []string{"GET", "POST"},
			PathPrefixes: []string{"/v1/charges"}, Windows: []string{"Mon-Sun 00:00-24:00 Europe/Berlin"},
			SourceCIDRs: []string{"10.0.0.0/8", "127.0.0.0/8"}},
	}
	in := Input{Scheme: "https", Host: "api.example.com", Port: 443, Method: "GET", Path: "/v1/charges/ch_1",
		SourceIP: netip.MustParseAddr("127.0.0.1"), Now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	for name, spec := range cases {
		b.Run(name, func(b *testing.B) {
			p, err := Compile(spec)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if d := p.Decide(in); !d.Allowed {
					b.Fatal(d.Reason)
				}
			}
		})
	}
}
