package policy

import (
	"fmt"
	"testing"
)

func TestOverlaps(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"same host", "api.example.com", "api.example.com", true},
		{"different hosts", "api.example.com", "www.example.com", false},
		{"wildcard covers exact", "*.example.com", "api.example.com", true},
		{"exact under wildcard, other order", "api.example.com", "*.example.com", true},
		{"wildcard is one label: not deeper", "*.example.com", "a.b.example.com", false},
		{"wildcard is one label: not the apex", "*.example.com", "example.com", false},
		{"two wildcards at different positions share a name", "*.eu-west-1.amazonaws.com", "sqs.*.amazonaws.com", true},
		{"wildcards of different depth", "*.amazonaws.com", "*.*.amazonaws.com", false},
		{"wildcards in other domains", "*.example.com", "*.example.org", false},
		{"fixed labels differ under wildcards", "sqs.*.amazonaws.com", "sns.*.amazonaws.com", false},
		{"same host, other port", "api.example.com", "api.example.com:8443", false},
		{"https 443 and http 80: a plain request is upgraded", "api.example.com", "http://api.example.com", true},
		{"https and http on one other port", "api.example.com:8080", "http://api.example.com:8080", true},
		{"http 8080 and https 443", "http://api.example.com:8080", "api.example.com", false},
		{"http 80 and https 8443", "http://api.example.com", "api.example.com:8443", false},
		{"same address", "127.0.0.1:8443", "127.0.0.1:8443", true},
		{"different addresses", "127.0.0.1:8443", "127.0.0.2:8443", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseDestination(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParseDestination(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := Overlaps(a, b); got != tt.want {
				t.Errorf("Overlaps(%s, %s) = %v, want %v", a, b, got, tt.want)
			}
			if got := Overlaps(b, a); got != tt.want {
				t.Errorf("Overlaps(%s, %s) = %v, want %v (not symmetric)", b, a, got, tt.want)
			}
		})
	}
}

// TestReachesAgreesWithDecide holds Reaches to the destination rule of
// Decide, which is what a profile's choice of grant must agree with.
func TestReachesAgreesWithDecide(t *testing.T) {
	dests := []string{"api.example.com", "http://api.example.com", "api.example.com:8443",
		"http://api.example.com:8080", "*.example.com", "127.0.0.1:8443"}
	hosts := []string{"api.example.com", "www.example.com", "example.com", "127.0.0.1"}
	for _, ds := range dests {
		d, err := ParseDestination(ds)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(Spec{Destinations: []string{ds}})
		if err != nil {
			t.Fatal(err)
		}
		for _, scheme := range []string{"http", "https"} {
			for _, host := range hosts {
				for _, port := range []int{80, 443, 8080, 8443} {
					t.Run(fmt.Sprintf("%s/%s://%s:%d", ds, scheme, host, port), func(t *testing.T) {
						want := p.Decide(Input{Scheme: scheme, Host: host, Port: port, Method: "GET", Path: "/"}).Allowed
						if got := d.Reaches(scheme, host, port); got != want {
							t.Errorf("Reaches = %v, Decide allows = %v", got, want)
						}
					})
				}
			}
		}
	}
}
