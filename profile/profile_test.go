package profile

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/policy"
)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, d, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		s := tok.Reveal()
		if !LooksLikeToken(s) || len(s) != len(TokenPrefix)+43 {
			t.Fatalf("token %d characters, not in the token form", len(s))
		}
		if seen[s] {
			t.Fatal("the same token twice")
		}
		seen[s] = true
		if DigestOf(s) != d {
			t.Fatal("the digest is not the token's SHA-256")
		}
		for _, printed := range []string{tok.String(), fmt.Sprint(tok), fmt.Sprintf("%v %s", tok, tok), tok.LogValue().String(), slog.AnyValue(tok).Resolve().String()} {
			if strings.Contains(printed, s[len(TokenPrefix):]) {
				t.Fatalf("the token printed itself: %q", printed)
			}
		}
	}
}

func TestLooksLikeToken(t *testing.T) {
	good, _, _ := NewToken()
	for name, tt := range map[string]struct {
		in   string
		want bool
	}{
		"a token":          {good.Reveal(), true},
		"a grant id":       {"6f1c6f2e-93b4-4c58-9a39-5bb4a2b7c1d2", false},
		"no prefix":        {good.Reveal()[len(TokenPrefix):], false},
		"other prefix":     {"alt_a_" + good.Reveal()[len(TokenPrefix):], false},
		"one short":        {good.Reveal()[:len(good)-1], false},
		"one long":         {good.Reveal() + "A", false},
		"padding":          {good.Reveal()[:len(good)-1] + "=", false},
		"standard base64":  {good.Reveal()[:len(good)-1] + "+", false},
		"empty":            {"", false},
		"prefix only":      {TokenPrefix, false},
		"non-ASCII digits": {good.Reveal()[:len(good)-2] + "é", false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := LooksLikeToken(tt.in); got != tt.want {
				t.Errorf("LooksLikeToken = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	for name, tt := range map[string]struct {
		in string
		ok bool
	}{
		"simple":            {"ci", true},
		"with punctuation":  {"team-a.build_1", true},
		"digit first":       {"1st", true},
		"empty":             {"", false},
		"upper case":        {"CI", false},
		"space":             {"c i", false},
		"colon":             {"a:b", false},
		"leading dash":      {"-x", false},
		"control character": {"a\nb", false},
		"too long":          {strings.Repeat("a", 65), false},
	} {
		t.Run(name, func(t *testing.T) {
			if err := CheckName(tt.in); (err == nil) != tt.ok {
				t.Errorf("CheckName(%q) = %v", tt.in, err)
			}
		})
	}
}

func member(t *testing.T, id string, dests ...string) Member {
	t.Helper()
	m := Member{GrantID: id}
	for _, s := range dests {
		d, err := policy.ParseDestination(s)
		if err != nil {
			t.Fatal(err)
		}
		m.Destinations = append(m.Destinations, d)
	}
	return m
}

func TestCheckOverlap(t *testing.T) {
	tests := []struct {
		name    string
		members [][]string // grant id first, then its destinations
		want    string     // "" when no overlap
	}{
		{"disjoint hosts", [][]string{{"g1", "api.github.com"}, {"g2", "sqs.us-east-1.amazonaws.com"}}, ""},
		{"same host", [][]string{{"g1", "api.github.com"}, {"g2", "api.github.com"}},
			"grant g1's https://api.github.com:443 overlaps grant g2's https://api.github.com:443"},
		{"wildcard over an exact host", [][]string{{"g1", "*.amazonaws.com", "api.github.com"}, {"g2", "sqs.amazonaws.com"}},
			"grant g1's https://*.amazonaws.com:443 overlaps grant g2's https://sqs.amazonaws.com:443"},
		{"two wildcards crossing", [][]string{{"g1", "sqs.*.amazonaws.com"}, {"g2", "*.eu-west-1.amazonaws.com"}},
			"grant g1's https://sqs.*.amazonaws.com:443 overlaps grant g2's https://*.eu-west-1.amazonaws.com:443"},
		{"wildcards of different depth", [][]string{{"g1", "*.amazonaws.com"}, {"g2", "*.*.amazonaws.com"}}, ""},
		{"https and its upgraded http", [][]string{{"g1", "api.example.com"}, {"g2", "http://api.example.com"}},
			"grant g1's https://api.example.com:443 overlaps grant g2's http://api.example.com:80"},
		{"other ports", [][]string{{"g1", "api.example.com"}, {"g2", "api.example.com:8443"}}, ""},
		{"the third overlaps the first", [][]string{{"g1", "a.example.com"}, {"g2", "b.example.com"}, {"g3", "*.example.com"}},
			"grant g1's https://a.example.com:443 overlaps grant g3's https://*.example.com:443"},
		{"a grant twice", [][]string{{"g1", "a.example.com"}, {"g1", "a.example.com"}}, "grant g1 is listed twice"},
		{"one grant overlapping itself is fine", [][]string{{"g1", "*.example.com", "a.example.com"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ms []Member
			for _, m := range tt.members {
				ms = append(ms, member(t, m[0], m[1:]...))
			}
			err := CheckOverlap(ms)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected overlap: %v", err)
			case tt.want != "" && (err == nil || !errors.Is(err, ErrOverlap) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want ErrOverlap naming %q", err, tt.want)
			}
		})
	}
}

func TestBindingSelect(t *testing.T) {
	b := NewBinding("p", true, []Member{
		member(t, "gh", "api.github.com"),
		member(t, "aws", "*.us-east-1.amazonaws.com"),
		member(t, "plain", "http://internal.test:8080"),
	})
	tests := []struct {
		name   string
		scheme string
		host   string
		port   int
		want   string
	}{
		{"exact host", "https", "api.github.com", 443, "gh"},
		{"plain http upgraded", "http", "api.github.com", 80, "gh"},
		{"wildcard", "https", "sqs.us-east-1.amazonaws.com", 443, "aws"},
		{"wildcard not deeper", "https", "a.sqs.us-east-1.amazonaws.com", 443, ""},
		{"plain http as written", "http", "internal.test", 8080, "plain"},
		{"plain destination not over https", "https", "internal.test", 8080, ""},
		{"other port", "https", "api.github.com", 8443, ""},
		{"other host", "https", "evil.test", 443, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.Select(tt.scheme, tt.host, tt.port)
			if err != nil || got != tt.want {
				t.Fatalf("Select = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("covers", func(t *testing.T) {
		for _, c := range []struct {
			host string
			port int
			want bool
		}{{"api.github.com", 443, true}, {"api.github.com", 80, true}, {"internal.test", 8080, true}, {"evil.test", 443, false}, {"api.github.com", 8443, false}} {
			if got := b.Covers(c.host, c.port); got != c.want {
				t.Errorf("Covers(%s, %d) = %v, want %v", c.host, c.port, got, c.want)
			}
		}
	})
	t.Run("overlapping members are ambiguous, never a pick", func(t *testing.T) {
		bad := NewBinding("p", false, []Member{member(t, "a", "*.example.com"), member(t, "b", "api.example.com")})
		if g, err := bad.Select("https", "api.example.com", 443); !errors.Is(err, ErrAmbiguous) || g != "" {
			t.Fatalf("Select = %q, %v; want ErrAmbiguous", g, err)
		}
	})
}

// TestCheckNameNeverEchoesAToken: a token given where a profile name goes
// (alter run --profile "$TOKEN", a proxy_auth client's profile: in the
// config) is refused without being repeated in the error, which ends up on
// a terminal, in a CI log or in the proxy's log. A token that happens to
// have a name's characters is refused too.
func TestCheckNameNeverEchoesAToken(t *testing.T) {
	tok, _, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		tok.Reveal(),
		TokenPrefix + "Q" + strings.Repeat("a", 42), // a token with an upper-case digit
		TokenPrefix + strings.Repeat("a", 43),       // a token that is all name characters
		TokenPrefix + strings.Repeat("B", 70),       // too long, and prefixed
	} {
		err := CheckName(in)
		if err == nil {
			t.Errorf("CheckName accepted a token as a profile name")
			continue
		}
		if strings.Contains(err.Error(), in[len(TokenPrefix):]) {
			t.Errorf("CheckName's error repeats the token: %v", err)
		}
	}
}
