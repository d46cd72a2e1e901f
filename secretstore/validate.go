package secretstore

import (
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

// Limits on the free text stored beside a grant. Names and labels end up
// in listings, logs and audit records, so control characters (which could
// forge a log line or a terminal escape) are refused.
const (
	maxTextLen = 200 // characters, for a name, a label or a provider
	maxLabels  = 64
)

// validateNew checks everything about a NewSecret before anything is
// sealed or written. Errors wrap ErrInvalid, name the problem and never
// quote a secret value (inject's errors name fields only).
func validateNew(ns NewSecret, now time.Time) error {
	inj, err := inject.Compile(ns.Spec)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := inj.CheckFields(ns.Fields); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if _, err := policy.Compile(ns.Policy); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := checkText("name", ns.Name); err != nil {
		return err
	}
	if err := checkText("provider", ns.Provider); err != nil {
		return err
	}
	if err := checkLabels(ns.Labels); err != nil {
		return err
	}
	if x := ns.ExpiresAt; x != nil {
		if !x.After(now) {
			return fmt.Errorf("%w: expiry %s is not in the future", ErrInvalid, x.UTC().Format(time.RFC3339))
		}
		if x.Year() > 9999 {
			return fmt.Errorf("%w: expiry is after year 9999", ErrInvalid)
		}
	}
	return nil
}

// checkLabels checks a grant's labels.
func checkLabels(labels []string) error {
	if len(labels) > maxLabels {
		return fmt.Errorf("%w: %d labels, at most %d", ErrInvalid, len(labels), maxLabels)
	}
	for i, l := range labels {
		if l == "" {
			return fmt.Errorf("%w: labels[%d] is empty", ErrInvalid, i)
		}
		if err := checkText(fmt.Sprintf("labels[%d]", i), l); err != nil {
			return err
		}
	}
	return nil
}

// checkText refuses invalid UTF-8, control characters and overlong text.
// The error names the field, not the text: a misplaced secret pasted into a
// name must not be echoed.
func checkText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	if n := utf8.RuneCountInString(s); n > maxTextLen {
		return fmt.Errorf("%w: %s is %d characters, at most %d", ErrInvalid, what, n, maxTextLen)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return fmt.Errorf("%w: %s contains a control character", ErrInvalid, what)
		}
	}
	return nil
}
