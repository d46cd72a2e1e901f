package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Clones may only narrow. Within checks that a child's Spec allows nothing
// its parent's does not, rule by rule, and names the first entry that would
// widen. It is deliberately conservative where exact set arithmetic would be
// surprising to read in an error: each child CIDR must lie inside one parent
// CIDR, each child path prefix under one parent prefix, each child
// destination under one parent destination, each child actor must be one of
// the parent's, and windows are compared only within the same time zone. A
// child may add a rule its parent lacks (actors included): that narrows.
//
// Within is the check made when a clone is created or its policy changed;
// at request time the clone's policy is also ANDed with every ancestor's
// (All), so even a parent narrowed later binds its existing clones.

// ErrWidens is wrapped by every error from Within.
var ErrWidens = errors.New("not allowed by the parent grant")

// Inherit fills the rules child leaves empty with the parent's: an empty
// rule in a clone request means "as the parent", never "unrestricted".
func Inherit(child, parent Spec) Spec {
	c, p := child.Clone(), parent.Clone()
	if len(c.Destinations) == 0 {
		c.Destinations = p.Destinations
	}
	if len(c.Methods) == 0 {
		c.Methods = p.Methods
	}
	if len(c.PathPrefixes) == 0 {
		c.PathPrefixes = p.PathPrefixes
	}
	if len(c.Windows) == 0 {
		c.Windows = p.Windows
	}
	if len(c.SourceCIDRs) == 0 {
		c.SourceCIDRs = p.SourceCIDRs
	}
	if len(c.Actors) == 0 {
		c.Actors = p.Actors
	}
	if c.NotBefore == nil {
		c.NotBefore = p.NotBefore
	}
	if c.NotAfter == nil {
		c.NotAfter = p.NotAfter
	}
	if len(c.RequireApproval) == 0 {
		// Approval is inherited whole; limits are not: a clone's requests
		// count against its parent's limits anyway (Policy.Limits).
		c.RequireApproval, c.ApprovalPathPrefixes = p.RequireApproval, p.ApprovalPathPrefixes
	}
	return c
}

// Within returns nil if child allows no request that parent refuses, and
// otherwise an error wrapping ErrWidens that names what widens, e.g.
// "destination https://evil.com:443 is not allowed by the parent grant".
// Both specs must compile; an error says which does not.
func Within(child, parent Spec) error {
	c, err := Compile(child)
	if err != nil {
		return err
	}
	p, err := Compile(parent)
	if err != nil {
		return fmt.Errorf("parent grant: %w", err)
	}
	for _, d := range c.destinations {
		if !slices.ContainsFunc(p.destinations, func(pd Destination) bool { return destWithin(d, pd) }) {
			return fmt.Errorf("destination %s is %w", d, ErrWidens)
		}
	}
	if err := listWithin("method", c.methods, p.methods, func(a, b string) bool { return a == b }); err != nil {
		return err
	}
	if err := listWithin("path prefix", c.prefixes, p.prefixes, underPrefix); err != nil {
		return err
	}
	if err := listWithin("source CIDR", c.sources, p.sources, prefixWithin); err != nil {
		return err
	}
	if err := listWithin("actor", c.actors, p.actors, func(a, b string) bool { return a == b }); err != nil {
		return err
	}
	if err := windowsWithin(c.windows, p.windows); err != nil {
		return err
	}
	if err := approvalWithin(c.approval, p.approval); err != nil {
		return err
	}
	if !p.notBefore.IsZero() && (c.notBefore.IsZero() || c.notBefore.Before(p.notBefore)) {
		return fmt.Errorf("not-before %s is %w (it starts at %s)", timeOrNone(c.notBefore), ErrWidens, p.notBefore.UTC().Format(time.RFC3339))
	}
	if !p.notAfter.IsZero() && (c.notAfter.IsZero() || c.notAfter.After(p.notAfter)) {
		return fmt.Errorf("not-after %s is %w (it ends at %s)", timeOrNone(c.notAfter), ErrWidens, p.notAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// listWithin checks a rule given as a list, where an empty list means
// "anything": each child entry must be within some parent entry.
func listWithin[T any](what string, child, parent []T, within func(c, p T) bool) error {
	if len(parent) == 0 {
		return nil
	}
	if len(child) == 0 {
		return fmt.Errorf("no %s restriction is %w (it allows only %s)", what, ErrWidens, joinAny(parent))
	}
	for _, c := range child {
		if !slices.ContainsFunc(parent, func(p T) bool { return within(c, p) }) {
			return fmt.Errorf("%s %v is %w", what, c, ErrWidens)
		}
	}
	return nil
}

func joinAny[T any](xs []T) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(x)
	}
	return s
}

func timeOrNone(t time.Time) string {
	if t.IsZero() {
		return "(none)"
	}
	return t.UTC().Format(time.RFC3339)
}

// destWithin reports whether every request child allows, parent allows too:
// the same scheme and port, and a host the parent's pattern covers. A
// wildcard child is within a parent pattern with as many labels that has a
// "*" wherever the child has one ("a.*.x.com" is within "*.*.x.com", not
// the other way round).
func destWithin(child, parent Destination) bool {
	if child.Scheme != parent.Scheme || child.Port != parent.Port {
		return false
	}
	if !child.Wildcard() {
		return parent.MatchesHost(child.Host)
	}
	cl, pl := strings.Split(child.Host, "."), strings.Split(parent.Host, ".")
	if len(cl) != len(pl) {
		return false
	}
	for i := range cl {
		if pl[i] != "*" && pl[i] != cl[i] {
			return false
		}
	}
	return true
}

// windowsWithin checks that every minute of the week a child window covers
// is covered by a parent window in the same zone.
func windowsWithin(child, parent []window) error {
	if len(parent) == 0 {
		return nil
	}
	if len(child) == 0 {
		return fmt.Errorf("no time window restriction is %w (it allows only %s)", ErrWidens, joinAny(parent))
	}
	covered := map[string]*[7 * 1440]bool{}
	for _, w := range parent {
		m := covered[w.loc.String()]
		if m == nil {
			m = new([7 * 1440]bool)
			covered[w.loc.String()] = m
		}
		w.minutesOfWeek(func(i int) { m[i] = true })
	}
	for _, w := range child {
		m := covered[w.loc.String()]
		if m == nil {
			return fmt.Errorf("window %q is %w: its zone %s is not the zone of any parent window (%s)", w, ErrWidens, w.loc, joinAny(parent))
		}
		ok := true
		w.minutesOfWeek(func(i int) { ok = ok && m[i] })
		if !ok {
			return fmt.Errorf("window %q is %w (it allows only %s)", w, ErrWidens, joinAny(parent))
		}
	}
	return nil
}

// approvalWithin: a clone may hold more requests for approval than its
// parent, never fewer. Every method the parent holds the child must hold,
// on every path the parent holds it.
func approvalWithin(child, parent *approvalRule) error {
	if parent == nil {
		return nil
	}
	if child == nil {
		return fmt.Errorf("no approval rule is %w (it requires approval)", ErrWidens)
	}
	if !child.anyMethod {
		if parent.anyMethod {
			return fmt.Errorf("approval for only %s is %w (it requires approval for every method)", strings.Join(child.methods, ", "), ErrWidens)
		}
		for _, m := range parent.methods {
			if !slices.Contains(child.methods, m) {
				return fmt.Errorf("no approval for %s is %w (it requires approval for %s)", m, ErrWidens, m)
			}
		}
	}
	if len(child.prefixes) == 0 {
		return nil
	}
	if len(parent.prefixes) == 0 {
		return fmt.Errorf("approval only under %s is %w (it requires approval on every path)", strings.Join(child.prefixes, ", "), ErrWidens)
	}
	for _, pp := range parent.prefixes {
		if !slices.ContainsFunc(child.prefixes, func(cp string) bool { return underPrefix(pp, cp) }) {
			return fmt.Errorf("no approval under %s is %w (it requires approval there)", pp, ErrWidens)
		}
	}
	return nil
}
