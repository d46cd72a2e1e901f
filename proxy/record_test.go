package proxy

import (
	"net/url"
	"slices"
	"sort"
	"testing"
)

// queryKeys must read names as url.ParseQuery does (the audit record's
// query_keys are the names an API would see), without its map of values.
func TestQueryKeysMatchesParseQuery(t *testing.T) {
	cases := []struct {
		name, raw string
		want      []string
		// valueBad: url.ParseQuery drops a pair whose value does not
		// unescape; the name was sent all the same, so it is recorded.
		valueBad bool
	}{
		{"none", "", nil, false},
		{"one", "limit=10", []string{"limit"}, false},
		{"sorted", "z=1&a=2&m", []string{"a", "m", "z"}, false},
		{"repeated name once", "id=1&id=2&id=3", []string{"id"}, false},
		{"escaped name", "caf%C3%A9=1&a+b=2", []string{"a b", "café"}, false},
		{"empty parts skipped", "&&a=1&", []string{"a"}, false},
		{"empty name kept", "=x&a", []string{"", "a"}, false},
		{"semicolon part skipped", "a=1;b=2&c=3", []string{"c"}, false},
		{"bad escape skipped", "%zz=1&ok=2", []string{"ok"}, false},
		{"value never read", "token=sk_live_abc%zz", []string{"token"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := queryKeys(&url.URL{RawQuery: c.raw})
			if !slices.Equal(got, c.want) {
				t.Fatalf("queryKeys(%q) = %q, want %q", c.raw, got, c.want)
			}
			if c.valueBad {
				return
			}
			q, _ := url.ParseQuery(c.raw)
			var ref []string
			for k := range q {
				ref = append(ref, k)
			}
			sort.Strings(ref)
			if !slices.Equal(got, ref) {
				t.Fatalf("queryKeys(%q) = %q, url.ParseQuery names %q", c.raw, got, ref)
			}
		})
	}
}
