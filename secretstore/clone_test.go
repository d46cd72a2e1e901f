package secretstore

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

// richParent is a grant with every kind of rule, for clones to narrow.
func richParent(t *testing.T, s *FileStore, expires *time.Time) Grant {
	t.Helper()
	ns := bearer("tok-parent", "api.example.com", "*.files.example.com")
	ns.Policy.Methods = []string{"get", "POST"}
	ns.Policy.PathPrefixes = []string{"/v1"}
	ns.Policy.Windows = []string{"* 00:00-24:00 Europe/Berlin"}
	ns.Policy.SourceCIDRs = []string{"10.0.0.0/8", "2001:db8::/32"}
	ns.ExpiresAt = expires
	return mustAdd(t, s, ns)
}

// input is an allowed request for richParent's rules.
func input(now time.Time) policy.Input {
	return policy.Input{Scheme: "https", Host: "api.example.com", Port: 443, Method: "GET", Path: "/v1/charges",
		SourceIP: netip.MustParseAddr("10.1.2.3"), Now: now}
}

func mustClone(t *testing.T, s *FileStore, parentID string, c CloneRequest) Grant {
	t.Helper()
	g, err := s.Clone(ctx, parentID, c)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAddStoresCanonicalPolicy(t *testing.T) {
	s := newStore(t)
	g := richParent(t, s, nil)
	info, err := s.Get(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(info.Policy.Methods, ","); got != "GET,POST" {
		t.Fatalf("methods stored as %q, want upper case", got)
	}
	if info.Status != StatusActive {
		t.Fatalf("status = %q", info.Status)
	}
}

func TestCloneNarrows(t *testing.T) {
	s := newStore(t)
	parent := richParent(t, s, nil)
	clone := mustClone(t, s, parent.ID, CloneRequest{TTL: time.Hour, Policy: policy.Spec{
		Methods: []string{"get"}, PathPrefixes: []string{"/v1/charges"}, SourceCIDRs: []string{"10.1.0.0/16"},
	}})
	if clone.Parent != parent.ID || clone.SecretID != parent.SecretID || clone.Name != parent.Name {
		t.Fatalf("clone = %+v", clone)
	}
	// Rules left empty were inherited, not dropped.
	if len(clone.Policy.Destinations) != 2 || len(clone.Policy.Windows) != 1 {
		t.Fatalf("clone did not inherit the parent's rules: %+v", clone.Policy)
	}
	now := time.Now()
	r, err := s.Resolve(ctx, clone.ID, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Fields["token"] != "tok-parent" {
		t.Fatal("the clone does not use the parent's secret")
	}
	tests := []struct {
		name string
		edit func(*policy.Input)
		rule string
	}{
		{"allowed", func(*policy.Input) {}, ""},
		{"method the parent allows", func(in *policy.Input) { in.Method = "POST" }, policy.RuleMethod},
		{"path the parent allows", func(in *policy.Input) { in.Path = "/v1/refunds" }, policy.RulePath},
		{"peer the parent allows", func(in *policy.Input) { in.SourceIP = netip.MustParseAddr("10.2.0.1") }, policy.RuleSourceIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input(now)
			tt.edit(&in)
			if d := r.Policy.Decide(in); d.Rule != tt.rule || d.Allowed != (tt.rule == "") {
				t.Fatalf("Decide = %+v, want rule %q", d, tt.rule)
			}
		})
	}
}

func TestCloneRefusesWidening(t *testing.T) {
	later := time.Now().Add(3 * time.Hour)
	tests := []struct {
		name string
		req  CloneRequest
		want string
	}{
		{"other host", CloneRequest{Policy: policy.Spec{Destinations: []string{"evil.com"}}}, "destination https://evil.com:443 is not allowed by the parent grant"},
		{"wider wildcard", CloneRequest{Policy: policy.Spec{Destinations: []string{"*.example.com"}}}, "destination https://*.example.com:443"},
		{"plain http", CloneRequest{Policy: policy.Spec{Destinations: []string{"http://api.example.com"}}}, "destination http://api.example.com:80"},
		{"extra method", CloneRequest{Policy: policy.Spec{Methods: []string{"DELETE"}}}, "method DELETE"},
		{"wider path", CloneRequest{Policy: policy.Spec{PathPrefixes: []string{"/"}}}, "path prefix /"},
		{"path not on segment", CloneRequest{Policy: policy.Spec{PathPrefixes: []string{"/v10"}}}, "path prefix /v10"},
		{"wider cidr", CloneRequest{Policy: policy.Spec{SourceCIDRs: []string{"0.0.0.0/0"}}}, "source CIDR 0.0.0.0/0"},
		{"other v6", CloneRequest{Policy: policy.Spec{SourceCIDRs: []string{"2001:db9::/32"}}}, "source CIDR 2001:db9::/32"},
		{"window in another zone", CloneRequest{Policy: policy.Spec{Windows: []string{"Mon 09:00-10:00 UTC"}}}, "zone UTC"},
		{"outlives the parent", CloneRequest{ExpiresAt: &later}, "cannot outlive its parent"},
		{"ttl beyond the parent", CloneRequest{TTL: 3 * time.Hour}, "cannot outlive its parent"},
		{"ttl and expiry", CloneRequest{TTL: time.Minute, ExpiresAt: &later}, "not both"},
		{"negative ttl", CloneRequest{TTL: -time.Minute}, "negative"},
		{"expiry in the past", CloneRequest{ExpiresAt: ptr(time.Now().Add(-time.Second))}, "not in the future"},
		{"bad window", CloneRequest{Policy: policy.Spec{Windows: []string{"Mon-Fry 09:00-10:00 Europe/Berlin"}}}, "windows[0]"},
		{"control character in name", CloneRequest{Name: "a\nb"}, "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			parentExpiry := time.Now().Add(2 * time.Hour)
			parent := richParent(t, s, &parentExpiry)
			before, _ := os.ReadFile(s.Path())
			_, err := s.Clone(ctx, parent.ID, tt.req)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Clone: %v, want ErrInvalid containing %q", err, tt.want)
			}
			after, _ := os.ReadFile(s.Path())
			if !bytes.Equal(before, after) {
				t.Fatal("a refused clone changed the store file")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestCloneOfUnusableParent(t *testing.T) {
	s := newStore(t)
	revoked := mustAdd(t, s, bearer("tok"))
	if err := s.Revoke(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	child := mustClone(t, s, mustAdd(t, s, bearer("tok")).ID, CloneRequest{})
	if err := s.Revoke(ctx, child.Parent); err != nil {
		t.Fatal(err)
	}
	shortLived := mustAdd(t, s, bearer("tok"))
	short := mustClone(t, s, shortLived.ID, CloneRequest{TTL: time.Millisecond})
	waitFor(t, "the short clone to expire", func() bool { _, err := s.Resolve(ctx, short.ID, time.Now()); return err != nil })
	tests := []struct {
		name, id string
		want     error
	}{
		{"revoked", revoked.ID, ErrInvalid},
		{"parent revoked", child.ID, ErrInvalid},
		{"expired", short.ID, ErrInvalid},
		{"unknown", "00000000-0000-4000-8000-000000000000", ErrNotFound},
		{"empty id", "", ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Clone(ctx, tt.id, CloneRequest{}); !errors.Is(err, tt.want) {
				t.Fatalf("Clone: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestCloneExpiry: a clone stops at its own expiry or its parent's,
// whichever is first, to the second; the clock is Resolve's argument.
func TestCloneExpiry(t *testing.T) {
	s := newStore(t)
	parentAt := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	parent := richParent(t, s, &parentAt)
	ownAt := parentAt.Add(-time.Hour)
	own := mustClone(t, s, parent.ID, CloneRequest{ExpiresAt: &ownAt})
	inherited := mustClone(t, s, parent.ID, CloneRequest{})
	equal := mustClone(t, s, parent.ID, CloneRequest{ExpiresAt: &parentAt})
	grandchild := mustClone(t, s, own.ID, CloneRequest{})
	tests := []struct {
		name string
		id   string
		at   time.Time
	}{
		{"own expiry", own.ID, ownAt},
		{"no own expiry: the parent's", inherited.ID, parentAt},
		{"expiry equal to the parent's", equal.ID, parentAt},
		{"grandchild: the nearest ancestor's", grandchild.ID, ownAt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range []struct {
				now time.Time
				ok  bool
			}{{tt.at.Add(-time.Second), true}, {tt.at, false}, {tt.at.Add(time.Second), false}} {
				_, err := s.Resolve(ctx, tt.id, c.now)
				if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrGrantUnavailable)) {
					t.Fatalf("at expiry%+v: err = %v, want ok=%v", c.now.Sub(tt.at), err, c.ok)
				}
			}
			info, err := s.Get(ctx, tt.id)
			if err != nil || info.EffectiveExpiresAt == nil || !info.EffectiveExpiresAt.Equal(tt.at) {
				t.Fatalf("effective expiry = %v (%v), want %s", info.EffectiveExpiresAt, err, tt.at)
			}
		})
	}
	t.Run("grandchild cannot outlive grandparent", func(t *testing.T) {
		mid := mustClone(t, s, parent.ID, CloneRequest{})
		late := parentAt.Add(time.Second)
		if _, err := s.Clone(ctx, mid.ID, CloneRequest{ExpiresAt: &late}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Clone: %v, want ErrInvalid", err)
		}
	})
}

func TestParentChangesReachClones(t *testing.T) {
	s := newStore(t)
	parent := richParent(t, s, nil)
	clone := mustClone(t, s, parent.ID, CloneRequest{Policy: policy.Spec{Methods: []string{"GET", "POST"}}})
	grandchild := mustClone(t, s, clone.ID, CloneRequest{Policy: policy.Spec{Methods: []string{"POST"}}})
	now := time.Now()
	decide := func(id, method string) policy.Decision {
		t.Helper()
		r, err := s.Resolve(ctx, id, now)
		if err != nil {
			t.Fatal(err)
		}
		in := input(now)
		in.Method = method
		return r.Policy.Decide(in)
	}
	if !decide(clone.ID, "POST").Allowed || !decide(grandchild.ID, "POST").Allowed {
		t.Fatal("POST refused before the parent was narrowed")
	}

	t.Run("parent narrowed", func(t *testing.T) {
		spec := parent.Policy.Clone()
		spec.Methods = []string{"GET"}
		if err := s.SetPolicy(ctx, parent.ID, spec); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{clone.ID, grandchild.ID} {
			if d := decide(id, "POST"); d.Allowed || d.Rule != policy.RuleMethod {
				t.Fatalf("clone %s still allows POST: %+v", id, d)
			}
		}
		if !decide(clone.ID, "GET").Allowed {
			t.Fatal("the clone lost GET, which the parent still allows")
		}
	})

	t.Run("rotation seen through clones", func(t *testing.T) {
		if err := s.Rotate(ctx, parent.ID, inject.Fields{"token": "tok-rotated"}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{clone.ID, grandchild.ID} {
			r, err := s.Resolve(ctx, id, now)
			if err != nil || r.Fields["token"] != "tok-rotated" {
				t.Fatalf("clone %s does not see the rotation: %v", id, err)
			}
		}
	})

	t.Run("parent revoked", func(t *testing.T) {
		if err := s.Revoke(ctx, parent.ID); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{clone.ID, grandchild.ID} {
			if _, err := s.Resolve(ctx, id, now); !errors.Is(err, ErrGrantUnavailable) {
				t.Fatalf("clone %s of a revoked parent resolved: %v", id, err)
			}
			info, _ := s.Get(ctx, id)
			if info.Status != StatusParentRevoked {
				t.Fatalf("status = %q, want %q", info.Status, StatusParentRevoked)
			}
		}
		if info, _ := s.Get(ctx, parent.ID); info.Status != StatusRevoked {
			t.Fatalf("parent status = %q", info.Status)
		}
	})
}

func TestSetPolicy(t *testing.T) {
	s := newStore(t)
	parent := richParent(t, s, nil)
	clone := mustClone(t, s, parent.ID, CloneRequest{Policy: policy.Spec{Methods: []string{"GET"}}})
	tests := []struct {
		name string
		id   string
		spec policy.Spec
		want string // "" for success
	}{
		{"root: replace rules", parent.ID, policy.Spec{Destinations: []string{"api.example.com"}, Methods: []string{"put"}}, ""},
		{"root: destinations required", parent.ID, policy.Spec{Methods: []string{"GET"}}, "destination"},
		{"root: bad rule", parent.ID, policy.Spec{Destinations: []string{"api.example.com"}, SourceCIDRs: []string{"10.0.0.0/99"}}, "source_cidrs[0]"},
		{"clone: widen method", clone.ID, policy.Spec{Methods: []string{"DELETE"}}, "method DELETE"},
		{"clone: widen destination", clone.ID, policy.Spec{Destinations: []string{"evil.com"}}, "destination https://evil.com:443"},
		{"unknown grant", "00000000-0000-4000-8000-000000000000", policy.Spec{Destinations: []string{"api.example.com"}}, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(s.Path())
			err := s.SetPolicy(ctx, tt.id, tt.spec)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				info, _ := s.Get(ctx, tt.id)
				if strings.Join(info.Policy.Methods, ",") != "PUT" || len(info.Policy.Windows) != 0 {
					t.Fatalf("policy not replaced: %+v", info.Policy)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SetPolicy: %v, want an error containing %q", err, tt.want)
			}
			after, _ := os.ReadFile(s.Path())
			if !bytes.Equal(before, after) {
				t.Fatal("a refused SetPolicy changed the store file")
			}
		})
	}
	t.Run("clone: empty rules are the parent's", func(t *testing.T) {
		// The parent now allows only PUT (first case): the clone's rules
		// reset to the parent's.
		if err := s.SetPolicy(ctx, clone.ID, policy.Spec{}); err != nil {
			t.Fatal(err)
		}
		info, _ := s.Get(ctx, clone.ID)
		if strings.Join(info.Policy.Methods, ",") != "PUT" || len(info.Policy.Destinations) != 1 {
			t.Fatalf("clone policy = %+v", info.Policy)
		}
	})
}
