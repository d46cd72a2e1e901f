package storage

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/alter-sidecar/alter/grant"

	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// Input checks are secretstore's own (ValidateNew, Narrow, CloneRequest's
// Expiry, CheckText, CheckLabels), so a grant the file store refuses is
// refused here too. Errors wrap ErrInvalid and never quote a secret value
// or the offending text.

const (
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

// validateNew checks a NewSecret and returns its canonical policy.
func validateNew(ns secretstore.NewSecret, now time.Time) (policy.Spec, error) {
	return secretstore.ValidateNew(ns, now)
}

// cloneExpiry is the clone's expiry, at the database's microsecond precision.
func cloneExpiry(c secretstore.CloneRequest, now time.Time) (*time.Time, error) {
	x, err := grant.CloneExpiry(c.TTL, c.ExpiresAt, now)
	if err != nil || x == nil {
		return x, err
	}
	t := x.Truncate(time.Microsecond)
	return &t, nil
}

func checkLabels(labels []string) error { return secretstore.CheckLabels(labels) }

func checkText(what, s string) error { return secretstore.CheckText(what, s) }
