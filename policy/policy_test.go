package policy

import "testing"

func TestDecideDestination(t *testing.T) {
	pol, err := Compile(Spec{Destinations: []string{"api.example.com", "http://plain.example.com:8080", "*.wild.example.com:8443"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      Input
		allowed bool
		target  string
	}{
		{"https allowed", Input{Scheme: "https", Host: "api.example.com", Port: 443}, true, "https://api.example.com:443"},
		{"plain http upgraded to tls", Input{Scheme: "http", Host: "api.example.com", Port: 80}, true, "https://api.example.com:443"},
		{"plain http allowed as written", Input{Scheme: "http", Host: "plain.example.com", Port: 8080}, true, "http://plain.example.com:8080"},
		{"http on other port not upgraded to 443", Input{Scheme: "http", Host: "api.example.com", Port: 8080}, false, ""},
		{"other host", Input{Scheme: "https", Host: "evil.example.com", Port: 443}, false, ""},
		{"wildcard on its port", Input{Scheme: "https", Host: "a.wild.example.com", Port: 8443}, true, "https://a.wild.example.com:8443"},
		{"wildcard on default port", Input{Scheme: "https", Host: "a.wild.example.com", Port: 443}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := pol.Decide(tt.in)
			if d.Allowed != tt.allowed {
				t.Fatalf("Decide(%+v).Allowed = %v, want %v (%s)", tt.in, d.Allowed, tt.allowed, d.Reason)
			}
			if !d.Allowed {
				if d.Rule != RuleDestination || d.Reason == "" {
					t.Fatalf("denial without rule or reason: %+v", d)
				}
				return
			}
			if got := d.Target.String(); got != tt.target {
				t.Fatalf("target = %s, want %s", got, tt.target)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	if _, err := Compile(Spec{}); err == nil {
		t.Fatal("a policy without destinations compiled")
	}
	if _, err := Compile(Spec{Destinations: []string{"ok.example.com", "bad/path"}}); err == nil {
		t.Fatal("a bad destination compiled")
	}
	var nilPolicy *Policy
	if nilPolicy.Decide(Input{Scheme: "https", Host: "x.com", Port: 443}).Allowed {
		t.Fatal("a nil policy allowed a request")
	}
}
