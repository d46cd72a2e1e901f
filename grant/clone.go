package grant

import (
	"fmt"
	"time"

	"github.com/alter-sidecar/alter/policy"
)

// Narrow is a clone's policy: the rules child leaves empty are the
// parent's, and the result may allow nothing the parent does not. The
// error wraps ErrInvalid and names the rule that would widen.
func Narrow(child, parent policy.Spec) (policy.Spec, error) {
	spec, err := policy.Inherit(child, parent).Canonical()
	if err != nil {
		return policy.Spec{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := policy.Within(spec, parent); err != nil {
		return policy.Spec{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return spec, nil
}

// CloneExpiry turns a clone request's TTL (from now) or instant into its
// expiry, if any: at most one of them, in the future, before year 10000.
// Nil means the clone lives as long as its parent.
func CloneExpiry(ttl time.Duration, at *time.Time, now time.Time) (*time.Time, error) {
	var x time.Time
	switch {
	case ttl != 0 && at != nil:
		return nil, fmt.Errorf("%w: give a TTL or an expiry time, not both", ErrInvalid)
	case ttl < 0:
		return nil, fmt.Errorf("%w: TTL %s is negative", ErrInvalid, ttl)
	case ttl > 0:
		x = now.Add(ttl)
	case at != nil:
		x = at.UTC()
	default:
		return nil, nil
	}
	if !x.After(now) {
		return nil, fmt.Errorf("%w: expiry %s is not in the future", ErrInvalid, x.Format(time.RFC3339))
	}
	if x.Year() > 9999 {
		return nil, fmt.Errorf("%w: expiry is after year 9999", ErrInvalid)
	}
	return &x, nil
}
