package policy

import (
	"fmt"
	"slices"
	"time"
)

// Spec is a grant's policy as it is stored: plain strings, validated by
// Compile. Every rule but Destinations is optional and omitted from JSON
// when empty, so records written before a rule existed keep loading (and
// keep their MACs, which cover the marshalled form).
//
// An empty optional rule does not restrict: no Methods means any method.
type Spec struct {
	// Destinations lists where the credential may be sent, in the forms
	// ParseDestination accepts. Every grant has at least one.
	Destinations []string `json:"destinations"`
	// Methods lists the HTTP methods allowed, upper case ("GET", "POST").
	Methods []string `json:"methods,omitempty"`
	// PathPrefixes lists the request paths allowed, matched on whole
	// segments: "/v1/charges" allows "/v1/charges" and "/v1/charges/ch_1",
	// never "/v1/chargesX". See path.go for how request paths are checked.
	PathPrefixes []string `json:"path_prefixes,omitempty"`
	// Windows lists when the grant may be used, each as
	// "DAYS HH:MM-HH:MM ZONE", e.g. "Mon-Fri 09:00-17:00 Europe/Berlin".
	// A request must fall in at least one. See window.go.
	Windows []string `json:"windows,omitempty"`
	// NotBefore: requests before this instant are denied (inclusive start).
	NotBefore *time.Time `json:"not_before,omitempty"`
	// NotAfter: requests at or after this instant are denied. A grant's
	// expiry (Grant.ExpiresAt) is the stronger tool: past it the grant is
	// unavailable altogether, and clones are bounded by it.
	NotAfter *time.Time `json:"not_after,omitempty"`
	// SourceCIDRs lists the client addresses allowed (IPv4 or IPv6 CIDRs,
	// or single addresses), matched against the TCP peer only.
	SourceCIDRs []string `json:"source_cidrs,omitempty"`
	// Actors lists the proxy clients allowed to use the grant, by their
	// names in proxy_auth.clients. With a list, a request from a proxy that
	// does not authenticate clients is denied. See actor.go.
	Actors []string `json:"actors,omitempty"`

	// RequireApproval lists the methods ("POST", or "*" for all) whose
	// requests wait for a person's approval before they are forwarded;
	// ApprovalPathPrefixes narrows that to paths under the prefixes
	// (empty: every path). See govern.go.
	RequireApproval      []string `json:"require_approval,omitempty"`
	ApprovalPathPrefixes []string `json:"approval_path_prefixes,omitempty"`
	// Rate ("20/m": at most 20 in any minute; units s, m, h) and Quota
	// ("1000/d": at most 1000 a calendar day; units d, mo) cap how often
	// the grant is used; PerActor counts each proxy client on its own.
	Rate     string `json:"rate,omitempty"`
	Quota    string `json:"quota,omitempty"`
	PerActor bool   `json:"per_actor,omitempty"`
}

// Clone returns a deep copy: the result shares no slice or pointer with s.
func (s Spec) Clone() Spec {
	c := Spec{
		Destinations: slices.Clone(s.Destinations),
		Methods:      slices.Clone(s.Methods),
		PathPrefixes: slices.Clone(s.PathPrefixes),
		Windows:      slices.Clone(s.Windows),
		SourceCIDRs:  slices.Clone(s.SourceCIDRs),
		Actors:       slices.Clone(s.Actors),

		RequireApproval:      slices.Clone(s.RequireApproval),
		ApprovalPathPrefixes: slices.Clone(s.ApprovalPathPrefixes),
		Rate:                 s.Rate,
		Quota:                s.Quota,
		PerActor:             s.PerActor,
	}
	if s.NotBefore != nil {
		t := *s.NotBefore
		c.NotBefore = &t
	}
	if s.NotAfter != nil {
		t := *s.NotAfter
		c.NotAfter = &t
	}
	return c
}

// Canonical validates s and returns the form a store should write: methods
// upper case, CIDRs masked and IPv4-mapped IPv6 written as IPv4, path
// prefixes without a trailing slash, windows with single spaces, times in
// UTC, and duplicates removed. Destinations and actors are kept as the
// operator wrote them, in the order written (they are shown back to people);
// destinations are compared normalised, actors exactly.
func (s Spec) Canonical() (Spec, error) {
	p, err := Compile(s)
	if err != nil {
		return Spec{}, err
	}
	c := Spec{
		Destinations: dedupe(s.Destinations),
		Methods:      dedupe(p.methods),
		PathPrefixes: dedupe(p.prefixes),
		Actors:       dedupe(p.actors),
		PerActor:     s.PerActor,
	}
	if a := p.approval; a != nil {
		c.RequireApproval = dedupe(a.methods)
		if a.anyMethod {
			c.RequireApproval = []string{"*"}
		}
		c.ApprovalPathPrefixes = dedupe(a.prefixes)
	}
	if r := p.limits.Rate; r != nil {
		c.Rate = r.Text
	}
	if q := p.limits.Quota; q != nil {
		c.Quota = q.Text
	}
	for _, w := range p.windows {
		c.Windows = append(c.Windows, w.String())
	}
	for _, n := range p.sources {
		c.SourceCIDRs = append(c.SourceCIDRs, n.String())
	}
	c.Windows, c.SourceCIDRs = dedupe(c.Windows), dedupe(c.SourceCIDRs)
	if s.NotBefore != nil {
		t := s.NotBefore.UTC()
		c.NotBefore = &t
	}
	if s.NotAfter != nil {
		t := s.NotAfter.UTC()
		c.NotAfter = &t
	}
	return c, nil
}

// dedupe drops repeated entries, keeping the first of each in order.
func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// checkTimes validates NotBefore and NotAfter together.
func checkTimes(s Spec) error {
	for name, t := range map[string]*time.Time{"not_before": s.NotBefore, "not_after": s.NotAfter} {
		if t != nil && (t.IsZero() || t.Year() > 9999) {
			return fmt.Errorf("policy: %s: %v is not a usable time", name, *t)
		}
	}
	if s.NotBefore != nil && s.NotAfter != nil && !s.NotBefore.Before(*s.NotAfter) {
		return fmt.Errorf("policy: not_before %s is not before not_after %s",
			s.NotBefore.UTC().Format(time.RFC3339), s.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
