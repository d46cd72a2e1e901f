package grant

import (
	"errors"
	"fmt"
	"time"

	"github.com/alter-sidecar/alter/policy"
)

// Link is one grant of a chain as a store holds it.
type Link struct {
	Grant  Grant
	Policy *policy.Policy // the grant's own compiled rules
	// Problem: the record failed its checks, so nothing it says (its
	// revoked flag, its expiry, its parent) can be believed.
	Problem error
}

// Chain is what a grant's chain of parents makes of it, apart from time:
// whether it has expired is Expires against the clock.
type Chain struct {
	Status string // StatusActive, StatusRevoked, StatusParentRevoked, StatusParentMissing or StatusUnusable
	// Problem is set when a record on the chain cannot be trusted
	// (StatusUnusable); it names the record.
	Problem error
	// Unavailable: the grant or an ancestor is revoked, or an ancestor is
	// missing. Decided from trusted records only.
	Unavailable bool
	Expires     time.Time      // the earliest expiry on the chain; zero if none
	Effective   *policy.Policy // the grant's own policy AND every ancestor's; nil unless active
	Specs       []policy.Spec  // the chain's policies, the grant's own first; nil unless active
	// IDs are the chain's grant ids, the grant's own first, in the order of
	// Effective's members (policy.Policy.Limits); nil unless active.
	IDs []string
}

// Usable reports whether nothing but time stops the grant being used.
func (c Chain) Usable() bool { return c.Status == StatusActive }

// ExpiredAt reports whether the chain has expired at now (at its expiry
// instant or after).
func (c Chain) ExpiredAt(now time.Time) bool { return !c.Expires.IsZero() && !now.Before(c.Expires) }

// Evaluate walks from g up through its parents, found with parent, and
// records the first thing that makes it unusable: a record that fails its
// check stops the walk (its flags cannot be believed); then revocation or
// a missing parent makes it unavailable. A chain deeper than MaxCloneDepth
// is unusable.
func Evaluate(g Link, parent func(id string) (Link, bool)) Chain {
	var c Chain
	var chain []*policy.Policy
	var specs []policy.Spec
	var ids []string
	cur := g
	for depth := 0; ; depth++ {
		first := depth == 0
		if cur.Problem != nil {
			c.Status, c.Problem = StatusUnusable, cur.Problem
			if !first {
				c.Problem = fmt.Errorf("parent grant %s: %w", cur.Grant.ID, cur.Problem)
			}
			return c
		}
		if cur.Grant.Revoked {
			c.Status, c.Unavailable = StatusRevoked, true
			if !first {
				c.Status = StatusParentRevoked
			}
			return c
		}
		chain = append(chain, cur.Policy)
		specs = append(specs, cur.Grant.Policy)
		ids = append(ids, cur.Grant.ID)
		if x := cur.Grant.ExpiresAt; x != nil && (c.Expires.IsZero() || x.Before(c.Expires)) {
			c.Expires = *x
		}
		if cur.Grant.Parent == "" {
			break
		}
		if depth == MaxCloneDepth {
			c.Status, c.Problem = StatusUnusable, errors.New("chain of parent grants is too long or loops")
			return c
		}
		next, ok := parent(cur.Grant.Parent)
		if !ok {
			c.Status, c.Unavailable = StatusParentMissing, true
			return c
		}
		cur = next
	}
	c.Status, c.Effective, c.Specs, c.IDs = StatusActive, policy.All(chain...), specs, ids
	return c
}

// Describe is how an error message names a status.
func Describe(status string) string {
	switch status {
	case StatusParentRevoked:
		return "unavailable because a parent grant is revoked"
	case StatusParentMissing:
		return "unavailable because a parent grant is missing"
	}
	return status
}
