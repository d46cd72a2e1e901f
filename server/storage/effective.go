package storage

import (
	"fmt"
	"time"

	"github.com/alter-sidecar/alter/policy"
)

// A clone's effective policy is its own AND every ancestor's (policy.All).
// Sidecars get it as one policy.Spec (wire.Resolution.Policy), so it must
// be written as one. Usually the grant's own spec already is the answer:
// clones are made within their parent. It is not when a parent was
// narrowed after the clone was made; then the intersection is built rule
// by rule, taking whichever side's rule lies within the other's (that
// rule is exactly the intersection of the two). If for some rule neither
// lies within the other (two disjoint method lists, windows in different
// zones), the intersection cannot be written as one spec and the grant
// fails closed: the caller treats it as unusable.

// effectiveSpec intersects a chain of specs, the grant's first.
func effectiveSpec(chain []policy.Spec) (policy.Spec, error) {
	if len(chain) == 0 {
		return policy.Spec{}, fmt.Errorf("no policy")
	}
	eff := chain[0].Clone()
	for _, anc := range chain[1:] {
		var err error
		if eff, err = intersect(eff, anc); err != nil {
			return policy.Spec{}, err
		}
	}
	if eff.Rate == "" && eff.Quota == "" {
		// A clone without limits of its own under a limited parent must
		// still be counted: the sidecar asks the server (which counts the
		// whole chain, storage.TakeUses) only for a grant whose policy has
		// limits, so the nearest ancestor's are carried.
		for _, anc := range chain[1:] {
			if anc.Rate != "" || anc.Quota != "" {
				eff.Rate, eff.Quota, eff.PerActor = anc.Rate, anc.Quota, anc.PerActor
				break
			}
		}
	}
	return eff, nil
}

// Limits are not intersected: a is the grant's own side, and its limits
// are kept as they are (a clone's requests count against each ancestor's
// limits separately; sidecars do not get those through this spec yet).
func intersect(a, b policy.Spec) (policy.Spec, error) {
	out, err := intersectRules(a, b)
	if err != nil {
		return policy.Spec{}, err
	}
	out.Rate, out.Quota, out.PerActor = a.Rate, a.Quota, a.PerActor
	return out, nil
}

func intersectRules(a, b policy.Spec) (policy.Spec, error) {
	if policy.Within(a, b) == nil {
		return a.Clone(), nil
	}
	if policy.Within(b, a) == nil {
		return b.Clone(), nil
	}
	var out policy.Spec
	// rule compares one rule: both sides get the same destinations (a's)
	// and nothing else, so Within judges only that rule.
	rule := func(what string, set func(s *policy.Spec, from policy.Spec)) error {
		ra, rb := policy.Spec{Destinations: a.Destinations}, policy.Spec{Destinations: a.Destinations}
		set(&ra, a)
		set(&rb, b)
		switch {
		case policy.Within(ra, rb) == nil:
			set(&out, a)
		case policy.Within(rb, ra) == nil:
			set(&out, b)
		default:
			return fmt.Errorf("the %s rules of the grant and a parent overlap without one containing the other: the effective policy cannot be written as one policy; set the clone's policy within its parent's", what)
		}
		return nil
	}
	if err := rule("destination", func(s *policy.Spec, f policy.Spec) { s.Destinations = f.Destinations }); err != nil {
		return policy.Spec{}, err
	}
	for _, r := range []struct {
		what string
		set  func(s *policy.Spec, f policy.Spec)
	}{
		{"method", func(s *policy.Spec, f policy.Spec) { s.Methods = f.Methods }},
		{"path prefix", func(s *policy.Spec, f policy.Spec) { s.PathPrefixes = f.PathPrefixes }},
		{"time window", func(s *policy.Spec, f policy.Spec) { s.Windows = f.Windows }},
		{"source CIDR", func(s *policy.Spec, f policy.Spec) { s.SourceCIDRs = f.SourceCIDRs }},
		{"actor", func(s *policy.Spec, f policy.Spec) { s.Actors = f.Actors }},
		// "Within" for an approval rule means holding at least as much,
		// so the side picked is the one that holds more.
		{"approval", func(s *policy.Spec, f policy.Spec) {
			s.RequireApproval, s.ApprovalPathPrefixes = f.RequireApproval, f.ApprovalPathPrefixes
		}},
	} {
		if err := rule(r.what, r.set); err != nil {
			return policy.Spec{}, err
		}
	}
	out.NotBefore = later(a.NotBefore, b.NotBefore)
	out.NotAfter = earlier(a.NotAfter, b.NotAfter)
	return out.Clone(), nil
}

func later(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil || a.After(*b):
		return a
	}
	return b
}

func earlier(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil || a.Before(*b):
		return a
	}
	return b
}
