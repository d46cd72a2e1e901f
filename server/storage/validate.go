package storage

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// Input checks. secretstore keeps its checks unexported, so the rules are
// restated here from the exported building blocks (inject.Compile,
// policy.Spec.Canonical, policy.Within) and kept identical: a grant the
// file store refuses must be refused here too. Errors wrap ErrInvalid and
// never quote a secret value or the offending text.

const (
	maxTextLen    = 200 // characters, for a name, label, provider, id, actor
	maxLabels     = 64
	maxCloneDepth = 32 // as secretstore: a longer chain is a loop or an attack
	maxAuditBody  = 64 << 10
	maxAuditBatch = 1000
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{secretstore.ErrInvalid}, a...)...)
}

// unavailable wraps a database failure. A context error stays visible.
func unavailable(err error) error {
	if err == nil || errors.Is(err, secretstore.ErrStoreUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", secretstore.ErrStoreUnavailable, err)
}

// notFound is the error for an unknown grant.
func notFound(id string) error { return fmt.Errorf("grant %s: %w", id, secretstore.ErrNotFound) }

// isNoRows reports whether err means a row was missing.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// validateNew checks a NewSecret before anything is sealed or written and
// returns its canonical policy.
func validateNew(ns secretstore.NewSecret, now time.Time) (policy.Spec, error) {
	inj, err := inject.Compile(ns.Spec)
	if err != nil {
		return policy.Spec{}, invalid("%w", err)
	}
	if err := inj.CheckFields(ns.Fields); err != nil {
		return policy.Spec{}, invalid("%w", err)
	}
	pol, err := ns.Policy.Canonical()
	if err != nil {
		return policy.Spec{}, invalid("%w", err)
	}
	if err := checkText("name", ns.Name); err != nil {
		return policy.Spec{}, err
	}
	if err := checkText("provider", ns.Provider); err != nil {
		return policy.Spec{}, err
	}
	if err := checkLabels(ns.Labels); err != nil {
		return policy.Spec{}, err
	}
	if x := ns.ExpiresAt; x != nil {
		if err := checkExpiry(*x, now); err != nil {
			return policy.Spec{}, err
		}
	}
	return pol, nil
}

func checkExpiry(x, now time.Time) error {
	if !x.After(now) {
		return invalid("expiry %s is not in the future", x.UTC().Format(time.RFC3339))
	}
	if x.Year() > 9999 {
		return invalid("expiry is after year 9999")
	}
	return nil
}

// cloneExpiry turns a CloneRequest's TTL or instant into an expiry, if any.
func cloneExpiry(c secretstore.CloneRequest, now time.Time) (*time.Time, error) {
	var x time.Time
	switch {
	case c.TTL != 0 && c.ExpiresAt != nil:
		return nil, invalid("give a TTL or an expiry time, not both")
	case c.TTL < 0:
		return nil, invalid("TTL %s is negative", c.TTL)
	case c.TTL > 0:
		x = now.Add(c.TTL)
	case c.ExpiresAt != nil:
		x = c.ExpiresAt.UTC()
	default:
		return nil, nil
	}
	x = x.Truncate(time.Microsecond)
	if err := checkExpiry(x, now); err != nil {
		return nil, err
	}
	return &x, nil
}

// narrow fills the rules child leaves empty from the parent and checks the
// result allows nothing the parent does not.
func narrow(child, parent policy.Spec) (policy.Spec, error) {
	spec, err := policy.Inherit(child, parent).Canonical()
	if err != nil {
		return policy.Spec{}, invalid("%w", err)
	}
	if err := policy.Within(spec, parent); err != nil {
		return policy.Spec{}, invalid("%w", err)
	}
	return spec, nil
}

func checkLabels(labels []string) error {
	if len(labels) > maxLabels {
		return invalid("%d labels, at most %d", len(labels), maxLabels)
	}
	for i, l := range labels {
		if l == "" {
			return invalid("labels[%d] is empty", i)
		}
		if err := checkText(fmt.Sprintf("labels[%d]", i), l); err != nil {
			return err
		}
	}
	return nil
}

// checkText refuses invalid UTF-8, control characters and overlong text;
// the error names the field, not the text.
func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", what)
	}
	if n := utf8.RuneCountInString(s); n > maxTextLen {
		return invalid("%s is %d characters, at most %d", what, n, maxTextLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return invalid("%s contains a control character", what)
		}
	}
	return nil
}
