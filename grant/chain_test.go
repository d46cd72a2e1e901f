package grant

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/policy"
)

// TestEvaluate: each case is an arrangement of records and what the chain
// rule makes of the first.
func TestEvaluate(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	at := func(h int) *time.Time { x := t0.Add(time.Duration(h) * time.Hour); return &x }
	pol := func(dest string) (policy.Spec, *policy.Policy) {
		s := policy.Spec{Destinations: []string{dest}}
		p, err := policy.Compile(s)
		if err != nil {
			t.Fatal(err)
		}
		return s, p
	}
	link := func(id, parent string, mod func(*Link)) Link {
		s, p := pol("*.example.com")
		if id == "child" || id == "grandchild" {
			s, p = pol("api.example.com")
		}
		l := Link{Grant: Grant{ID: id, Parent: parent, Policy: s}, Policy: p}
		if mod != nil {
			mod(&l)
		}
		return l
	}
	broken := errors.New("MAC mismatch")
	cases := []struct {
		name      string
		links     []Link // the first is evaluated
		status    string
		unavail   bool
		problem   string
		expires   *time.Time
		allowHost string // with an active chain: a host the effective policy allows
		denyHost  string // and one it refuses
	}{
		{name: "a grant alone", links: []Link{link("root", "", nil)},
			status: StatusActive, allowHost: "a.example.com"},
		{name: "a clone: its own rules AND its parent's", links: []Link{link("child", "root", nil), link("root", "", nil)},
			status: StatusActive, allowHost: "api.example.com", denyHost: "b.example.com"},
		{name: "revoked", links: []Link{link("root", "", func(l *Link) { l.Grant.Revoked = true })},
			status: StatusRevoked, unavail: true},
		{name: "a revoked parent makes the clone unavailable", links: []Link{link("child", "root", nil), link("root", "", func(l *Link) { l.Grant.Revoked = true })},
			status: StatusParentRevoked, unavail: true},
		{name: "a revoked grandparent", links: []Link{link("grandchild", "child", nil), link("child", "root", nil), link("root", "", func(l *Link) { l.Grant.Revoked = true })},
			status: StatusParentRevoked, unavail: true},
		{name: "a missing parent", links: []Link{link("child", "root", nil)},
			status: StatusParentMissing, unavail: true},
		{name: "the earliest expiry on the chain", links: []Link{link("child", "root", func(l *Link) { l.Grant.ExpiresAt = at(5) }), link("root", "", func(l *Link) { l.Grant.ExpiresAt = at(2) })},
			status: StatusActive, expires: at(2), allowHost: "api.example.com"},
		{name: "its own record cannot be trusted", links: []Link{link("root", "", func(l *Link) { l.Problem = broken; l.Grant.Revoked = false })},
			status: StatusUnusable, problem: "MAC mismatch"},
		{name: "an untrusted parent: its revoked flag is not believed either", links: []Link{link("child", "root", nil), link("root", "", func(l *Link) { l.Problem = broken; l.Grant.Revoked = true })},
			status: StatusUnusable, problem: "parent grant root: MAC mismatch"},
		{name: "a loop", links: []Link{link("a", "b", nil), link("b", "a", nil)},
			status: StatusUnusable, problem: "too long or loops"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			byID := map[string]Link{}
			for _, l := range c.links {
				byID[l.Grant.ID] = l
			}
			got := Evaluate(c.links[0], func(id string) (Link, bool) { l, ok := byID[id]; return l, ok })
			if got.Status != c.status || got.Unavailable != c.unavail {
				t.Fatalf("status %s unavailable %v, want %s %v (problem %v)", got.Status, got.Unavailable, c.status, c.unavail, got.Problem)
			}
			if (c.problem == "") != (got.Problem == nil) || (got.Problem != nil && !strings.Contains(got.Problem.Error(), c.problem)) {
				t.Fatalf("problem %v, want %q", got.Problem, c.problem)
			}
			if c.expires != nil && !got.Expires.Equal(*c.expires) {
				t.Fatalf("expires %v, want %v", got.Expires, *c.expires)
			}
			if got.Usable() != (c.status == StatusActive) || (got.Effective == nil) == got.Usable() {
				t.Fatalf("usable %v effective %v", got.Usable(), got.Effective)
			}
			if c.allowHost != "" {
				if !got.Effective.CoversHost(c.allowHost, 443) {
					t.Errorf("effective policy refuses %s", c.allowHost)
				}
				if c.denyHost != "" && got.Effective.CoversHost(c.denyHost, 443) {
					t.Errorf("effective policy allows %s, which the clone's own rules refuse", c.denyHost)
				}
			}
		})
	}
}

func TestCloneExpiry(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	past, future, far := now.Add(-time.Second), now.Add(time.Hour), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		ttl  time.Duration
		at   *time.Time
		want *time.Time
		err  string
	}{
		{name: "neither: as long as the parent"},
		{name: "a TTL", ttl: time.Hour, want: &future},
		{name: "an instant", at: &future, want: &future},
		{name: "both", ttl: time.Hour, at: &future, err: "not both"},
		{name: "negative TTL", ttl: -time.Second, err: "negative"},
		{name: "in the past", at: &past, err: "not in the future"},
		{name: "after 9999", at: &far, err: "after year 9999"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := CloneExpiry(c.ttl, c.at, now)
			if c.err != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want ErrInvalid with %q", err, c.err)
				}
				return
			}
			if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %v %v, want %v", got, err, c.want)
			}
		})
	}
}
