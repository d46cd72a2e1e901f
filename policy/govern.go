package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Governing rules: what a grant lets through once Decide has allowed a
// request. An approval rule holds matching requests until a person decides
// (the proxy asks RequiresApproval); limits cap how often the grant is used
// (the proxy asks Limits and counts). Neither changes Decide: a request
// held for approval, or over a limit, was allowed by every other rule.

// Approval rules and limits are stored in Spec as:
//
//	"require_approval":       ["POST", "DELETE"] or ["*"]
//	"approval_path_prefixes": ["/v1/refunds"]   (empty: every path)
//	"rate":                   "20/m"  (N/s, N/m, N/h: at most N in any such window)
//	"quota":                  "1000/d" (N/d, N/mo: calendar periods)
//	"per_actor":              true    (each proxy client counts on its own)

// Rule names for the governing rules, as audit records and bodies name them.
const (
	RuleApproval  = "approval"
	RuleRateLimit = "rate_limit"
)

// MaxRate bounds N in a rate: the proxy keeps one timestamp per request in
// the window, so a larger N is a quota's job (or a longer unit's).
const MaxRate = 100000

// approvalRule is the compiled form of require_approval and its prefixes.
type approvalRule struct {
	anyMethod bool
	methods   []string
	prefixes  []string // canonical; empty: every path
}

// Limit is one compiled rate or quota: at most N requests per Period.
type Limit struct {
	N int
	// Per is the window's length for a rate, and the calendar unit for a
	// quota ("d" or "mo").
	Per      time.Duration
	Calendar string // "", "d" or "mo"
	Text     string // as written canonically, "20/m"
}

// Limits is one grant's own limits, as the proxy counts them.
type Limits struct {
	Rate     *Limit
	Quota    *Limit
	PerActor bool
	// Zone is the calendar a quota's days and months are counted in: the
	// zone of the grant's first time window, else UTC.
	Zone *time.Location
}

// Any reports whether there is anything to count.
func (l Limits) Any() bool { return l.Rate != nil || l.Quota != nil }

func compileApproval(spec Spec) (*approvalRule, error) {
	if len(spec.RequireApproval) == 0 {
		if len(spec.ApprovalPathPrefixes) > 0 {
			return nil, fmt.Errorf("policy: approval_path_prefixes: given without require_approval")
		}
		return nil, nil
	}
	r := &approvalRule{}
	for i, s := range spec.RequireApproval {
		if strings.TrimSpace(s) == "*" {
			r.anyMethod = true
			continue
		}
		m, err := parseMethod(s)
		if err != nil {
			return nil, fmt.Errorf("policy: require_approval[%d]: %v", i, err)
		}
		r.methods = append(r.methods, m)
	}
	if r.anyMethod {
		r.methods = nil
	}
	for i, s := range spec.ApprovalPathPrefixes {
		pre, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("policy: approval_path_prefixes[%d]: %v", i, err)
		}
		r.prefixes = append(r.prefixes, pre)
	}
	return r, nil
}

// matches reports whether a request needs approval, and the prefix that
// made it so ("" when the rule covers every path). path is as Decide got it;
// a path that is not canonical is held (fail closed), though Decide has
// refused it already whenever the grant has path prefixes.
func (r *approvalRule) matches(method, path string) (bool, string) {
	if r == nil {
		return false, ""
	}
	if !r.anyMethod && !containsString(r.methods, method) {
		return false, ""
	}
	if len(r.prefixes) == 0 {
		return true, ""
	}
	canon, err := canonicalPath(path)
	if err != nil {
		return true, ""
	}
	for _, pre := range r.prefixes {
		if underPrefix(canon, pre) {
			return true, pre
		}
	}
	return false, ""
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// RequiresApproval reports whether the request must be approved by a
// person before it is forwarded: true if the grant's own rule or any
// ancestor's matches. prefix is the approval path prefix that matched (the
// scope a time-boxed approval covers), "" when the rule covers every path.
func (p *Policy) RequiresApproval(method, path string) (required bool, prefix string) {
	if p == nil {
		return false, ""
	}
	if p.all != nil {
		for _, q := range p.all {
			if ok, pre := q.approval.matches(method, path); ok {
				return true, pre
			}
		}
		return false, ""
	}
	return p.approval.matches(method, path)
}

// HasApproval reports whether any member has an approval rule at all, so
// the proxy can skip the check on the header path.
func (p *Policy) HasApproval() bool {
	if p == nil {
		return false
	}
	if p.all == nil {
		return p.approval != nil
	}
	for _, q := range p.all {
		if q.approval != nil {
			return true
		}
	}
	return false
}

// Limits returns each member's own limits, in the order of All's members:
// the grant's own first, then its parent's, and so on. The proxy pairs
// them with the chain's grant ids, so a clone's request counts against its
// own limits and every ancestor's.
func (p *Policy) Limits() []Limits {
	if p == nil {
		return nil
	}
	var out []Limits
	for _, q := range p.members() {
		out = append(out, q.limits)
	}
	return out
}

// HasLimits reports whether any member has a rate or a quota.
func (p *Policy) HasLimits() bool {
	if p == nil {
		return false
	}
	if p.all == nil {
		return p.limits.Any()
	}
	for _, q := range p.all {
		if q.limits.Any() {
			return true
		}
	}
	return false
}

func (p *Policy) members() []*Policy {
	if p.all != nil {
		return p.all
	}
	return []*Policy{p}
}

// rateUnits and quotaUnits are the units a rate and a quota may be given in.
var rateUnits = map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}

// ParseRate parses "N/s", "N/m" or "N/h".
func ParseRate(s string) (*Limit, error) {
	n, unit, err := splitLimit(s)
	if err != nil {
		return nil, err
	}
	per, ok := rateUnits[unit]
	if !ok {
		return nil, fmt.Errorf("rate %q: the unit must be s, m or h (a day or a month is a quota)", s)
	}
	if n > MaxRate {
		return nil, fmt.Errorf("rate %q: at most %d per window (use a quota, or a shorter unit)", s, MaxRate)
	}
	return &Limit{N: n, Per: per, Text: strconv.Itoa(n) + "/" + unit}, nil
}

// ParseQuota parses "N/d" or "N/mo".
func ParseQuota(s string) (*Limit, error) {
	n, unit, err := splitLimit(s)
	if err != nil {
		return nil, err
	}
	if unit != "d" && unit != "mo" {
		return nil, fmt.Errorf("quota %q: the unit must be d (a calendar day) or mo (a calendar month)", s)
	}
	return &Limit{N: n, Calendar: unit, Text: strconv.Itoa(n) + "/" + unit}, nil
}

func splitLimit(s string) (int, string, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, "", fmt.Errorf("%q: write it as N/unit, e.g. 20/m", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 1 || n > 1_000_000_000 {
		return 0, "", fmt.Errorf("%q: N must be a whole number from 1 to 1000000000", s)
	}
	return n, strings.TrimSpace(unit), nil
}

func compileLimits(spec Spec, windows []window) (Limits, error) {
	var l Limits
	var err error
	if spec.Rate != "" {
		if l.Rate, err = ParseRate(spec.Rate); err != nil {
			return l, fmt.Errorf("policy: rate: %v", err)
		}
	}
	if spec.Quota != "" {
		if l.Quota, err = ParseQuota(spec.Quota); err != nil {
			return l, fmt.Errorf("policy: quota: %v", err)
		}
	}
	if spec.PerActor && !l.Any() {
		return l, fmt.Errorf("policy: per_actor: given without a rate or a quota")
	}
	l.PerActor = spec.PerActor
	l.Zone = time.UTC
	if len(windows) > 0 && windows[0].loc != nil {
		l.Zone = windows[0].loc
	}
	return l, nil
}

// PeriodStart is the start of the calendar period that holds now, in zone.
func (l Limit) PeriodStart(now time.Time, zone *time.Location) time.Time {
	t := now.In(zone)
	switch l.Calendar {
	case "mo":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, zone)
	default:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, zone)
	}
}

// PeriodEnd is the start of the next calendar period after the one holding now.
func (l Limit) PeriodEnd(now time.Time, zone *time.Location) time.Time {
	s := l.PeriodStart(now, zone)
	if l.Calendar == "mo" {
		return s.AddDate(0, 1, 0)
	}
	return s.AddDate(0, 0, 1)
}
