package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/alter-sidecar/alter/policy"
)

// policyFlags are the optional policy rules and the expiry, shared by
// `secret add`, `grant clone` and `grant policy`. --allow-host is not here:
// each command registers it with its own meaning (required for add,
// narrowing for clone, replacing for policy).
type policyFlags struct {
	fs          *pflag.FlagSet
	ttl         time.Duration
	notAfter    string
	notBefore   string
	methods     []string
	pathPrefix  []string
	windows     []string
	sourceCIDRs []string
	actors      []string
	// Governing rules: approval, rate and quota (policy/govern.go).
	approval       []string
	approvalPrefix []string
	rate, quota    string
	perActor       bool
}

// addPolicyFlags registers the policy and expiry flags on fs.
func addPolicyFlags(fs *pflag.FlagSet) *policyFlags {
	f := &policyFlags{fs: fs}
	fs.DurationVar(&f.ttl, "ttl", 0, "the grant stops working this long from now (e.g. 1h, 30m)")
	fs.StringVar(&f.notAfter, "not-after", "", "the grant stops working at this RFC 3339 time (e.g. 2026-07-01T00:00:00Z)")
	fs.StringVar(&f.notBefore, "not-before", "", "requests before this RFC 3339 time are refused")
	fs.StringSliceVar(&f.methods, "methods", nil, "allowed HTTP methods, comma-separated (e.g. GET,POST)")
	fs.StringArrayVar(&f.pathPrefix, "path-prefix", nil, "allowed path prefix, matched on whole segments (repeatable)")
	fs.StringArrayVar(&f.windows, "window", nil, `allowed time window "DAYS HH:MM-HH:MM ZONE", e.g. "Mon-Fri 09:00-17:00 Europe/Berlin" (repeatable)`)
	fs.StringArrayVar(&f.sourceCIDRs, "allow-ip", nil, "client address or CIDR allowed to use the grant, matched on the TCP peer (repeatable)")
	fs.StringArrayVar(&f.actors, "allow-actor", nil, "proxy client (a proxy_auth.clients name) allowed to use the grant; a proxy without client authentication then refuses it (repeatable)")
	fs.StringSliceVar(&f.approval, "require-approval", nil, `methods whose requests wait for a person's approval, comma-separated, or "*" for all; "none" removes the rule`)
	fs.StringArrayVar(&f.approvalPrefix, "approval-path-prefix", nil, "only requests under this path prefix need approval (repeatable; with --require-approval)")
	fs.StringVar(&f.rate, "rate", "", `at most N requests in any window: N/s, N/m or N/h (e.g. 20/m); "none" removes it`)
	fs.StringVar(&f.quota, "quota", "", `at most N requests a calendar day or month (UTC, or the zone of the grant's first --window): N/d or N/mo; "none" removes it`)
	fs.BoolVar(&f.perActor, "per-actor", false, "count --rate and --quota for each proxy client on its own")
	return f
}

// dropsApproval reports whether --require-approval none was given.
func (f *policyFlags) dropsApproval() bool { return len(f.approval) == 1 && f.approval[0] == "none" }

// buildGoverning applies the approval, rate and quota flags to spec.
func (f *policyFlags) buildGoverning(spec *policy.Spec) error {
	switch {
	case len(f.approval) == 1 && f.approval[0] == "none":
		if len(f.approvalPrefix) > 0 {
			return usageError{fmt.Errorf("--approval-path-prefix with --require-approval none: nothing would need approval")}
		}
		spec.RequireApproval, spec.ApprovalPathPrefixes = nil, nil
	case len(f.approval) > 0:
		spec.RequireApproval = append([]string(nil), f.approval...)
		spec.ApprovalPathPrefixes = append([]string(nil), f.approvalPrefix...)
	case len(f.approvalPrefix) > 0:
		if len(spec.RequireApproval) == 0 {
			return usageError{fmt.Errorf("--approval-path-prefix needs --require-approval (which methods need approval there)")}
		}
		spec.ApprovalPathPrefixes = append([]string(nil), f.approvalPrefix...)
	}
	for _, r := range []struct {
		flag, value string
		field       *string
	}{{"rate", f.rate, &spec.Rate}, {"quota", f.quota, &spec.Quota}} {
		switch r.value {
		case "":
		case "none":
			*r.field = ""
		default:
			*r.field = r.value
		}
	}
	if f.fs.Changed("per-actor") {
		spec.PerActor = f.perActor
	}
	if spec.PerActor && spec.Rate == "" && spec.Quota == "" {
		if f.fs.Changed("per-actor") {
			return usageError{fmt.Errorf("--per-actor needs --rate or --quota")}
		}
		spec.PerActor = false // its limits were removed
	}
	return nil
}

// build returns base with the rules given on the command line added, and
// the expiry from --ttl or --not-after (nil if neither). A rule not given
// keeps base's value. The rules are validated here, so a typo is reported
// before anything is read from stdin; errors name the flag.
func (f *policyFlags) build(base policy.Spec, now time.Time) (policy.Spec, *time.Time, error) {
	spec := base.Clone()
	if len(f.methods) > 0 {
		spec.Methods = append([]string(nil), f.methods...)
	}
	if len(f.pathPrefix) > 0 {
		spec.PathPrefixes = append([]string(nil), f.pathPrefix...)
	}
	if len(f.windows) > 0 {
		spec.Windows = append([]string(nil), f.windows...)
	}
	if len(f.sourceCIDRs) > 0 {
		spec.SourceCIDRs = append([]string(nil), f.sourceCIDRs...)
	}
	if len(f.actors) > 0 {
		spec.Actors = append([]string(nil), f.actors...)
	}
	if err := f.buildGoverning(&spec); err != nil {
		return policy.Spec{}, nil, err
	}
	if f.notBefore != "" {
		t, err := time.Parse(time.RFC3339, f.notBefore)
		if err != nil {
			return policy.Spec{}, nil, usageError{fmt.Errorf("--not-before %q: want an RFC 3339 time such as 2026-07-01T09:00:00Z", f.notBefore)}
		}
		spec.NotBefore = &t
	}
	// Check the rules now, with a stand-in destination when the command's
	// own destinations are inherited (a clone's may be).
	check := spec.Clone()
	if len(check.Destinations) == 0 {
		check.Destinations = []string{"example.invalid"}
	}
	if _, err := policy.Compile(check); err != nil {
		return policy.Spec{}, nil, usageError{err}
	}
	expiry, err := f.expiry(now)
	if err != nil {
		return policy.Spec{}, nil, err
	}
	return spec, expiry, nil
}

// expiry turns --ttl or --not-after into an instant.
func (f *policyFlags) expiry(now time.Time) (*time.Time, error) {
	switch {
	case f.fs.Changed("ttl") && f.notAfter != "":
		return nil, usageError{fmt.Errorf("give --ttl or --not-after, not both")}
	case f.fs.Changed("ttl"):
		if f.ttl <= 0 {
			return nil, usageError{fmt.Errorf("--ttl %s: want a positive duration such as 1h", f.ttl)}
		}
		x := now.Add(f.ttl).UTC()
		return &x, nil
	case f.notAfter != "":
		t, err := time.Parse(time.RFC3339, f.notAfter)
		if err != nil {
			return nil, usageError{fmt.Errorf("--not-after %q: want an RFC 3339 time such as 2026-07-01T00:00:00Z", f.notAfter)}
		}
		if !t.After(now) {
			return nil, usageError{fmt.Errorf("--not-after %s is not in the future", t.Format(time.RFC3339))}
		}
		x := t.UTC()
		return &x, nil
	}
	return nil, nil
}

// setsExpiry reports whether --ttl or --not-after was given.
func (f *policyFlags) setsExpiry() bool {
	return f.fs.Changed("ttl") || f.fs.Changed("not-after")
}
