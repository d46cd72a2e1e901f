package policy

import (
	"encoding/json"
	"testing"
)

// TestSpecJSONCompatible: a spec with only destinations marshals exactly as
// before the optional rules existed, so the MACs of stored grants (computed
// over the marshalled record) still verify.
func TestSpecJSONCompatible(t *testing.T) {
	out, err := json.Marshal(Spec{Destinations: []string{"api.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"destinations":["api.example.com"]}` {
		t.Fatalf("marshalled as %s", out)
	}
	var s Spec
	if err := json.Unmarshal([]byte(`{"destinations":["a.example.com"],"methods":["GET"],"path_prefixes":["/v1"],`+
		`"windows":["* 00:00-24:00 UTC"],"not_before":"2026-01-01T00:00:00Z","not_after":"2027-01-01T00:00:00Z","source_cidrs":["10.0.0.0/8"],"actors":["billing"]}`), &s); err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(s); err != nil || s.NotAfter == nil || len(s.SourceCIDRs) != 1 || len(s.Actors) != 1 {
		t.Fatalf("round trip: %+v %v", s, err)
	}
}
