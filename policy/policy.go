// Package policy decides whether one request may use a grant. It owns host
// normalisation and matching, the compiled form of a grant's policy, the
// rules that narrow a clone, and the address checks of the SSRF guard. A
// decision is a value with a reason: the rule that failed is what the audit
// record and the 403 body name.
//
// Files, one concept each:
//
//	spec.go         the stored form (Spec), its copy and canonical form
//	policy.go       Compile, Input, Decision, Decide
//	destination.go  scheme/host/port parsing, normalisation and matching
//	method.go       HTTP methods
//	path.go         path prefixes and the canonical-path check
//	window.go       time windows (days, hours, IANA zones)
//	source.go       source CIDRs, matched on the TCP peer
//	actor.go        actors: the authenticated proxy clients allowed
//	compose.go      All: a clone's policy AND its ancestors'
//	within.go       Within and Inherit: a clone may only narrow its parent
//	address.go      address ranges the SSRF guard refuses
package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Policy is the compiled, immutable form of a Spec (or, from All, of several
// Specs that must all agree). The hot path only reads it.
type Policy struct {
	destinations []Destination
	methods      []string // upper case
	prefixes     []string // canonical, no trailing slash unless "/"
	windows      []window
	sources      []netip.Prefix
	actors       []string      // client names, compared exactly
	notBefore    time.Time     // zero: none
	notAfter     time.Time     // zero: none
	approval     *approvalRule // nil: nothing waits for approval (govern.go)
	limits       Limits

	all []*Policy // set by All: every one must allow
}

// Compile validates spec and returns its immutable form. Errors name the
// offending entry, e.g. `policy: windows[1]: window "Mon-Fry ...": unknown
// day "Fry"`.
func Compile(spec Spec) (*Policy, error) {
	if len(spec.Destinations) == 0 {
		return nil, errors.New("policy: at least one allowed destination is required")
	}
	p := &Policy{destinations: make([]Destination, 0, len(spec.Destinations))}
	for i, s := range spec.Destinations {
		d, err := ParseDestination(s)
		if err != nil {
			return nil, fmt.Errorf("policy: destinations[%d]: %w", i, err)
		}
		p.destinations = append(p.destinations, d)
	}
	for i, s := range spec.Methods {
		m, err := parseMethod(s)
		if err != nil {
			return nil, fmt.Errorf("policy: methods[%d]: %v", i, err)
		}
		p.methods = append(p.methods, m)
	}
	for i, s := range spec.PathPrefixes {
		pre, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("policy: path_prefixes[%d]: %v", i, err)
		}
		p.prefixes = append(p.prefixes, pre)
	}
	for i, s := range spec.Windows {
		w, err := parseWindow(s)
		if err != nil {
			return nil, fmt.Errorf("policy: windows[%d]: %v", i, err)
		}
		p.windows = append(p.windows, w)
	}
	for i, s := range spec.SourceCIDRs {
		n, err := parseSource(s)
		if err != nil {
			return nil, fmt.Errorf("policy: source_cidrs[%d]: %v", i, err)
		}
		p.sources = append(p.sources, n)
	}
	for i, s := range spec.Actors {
		a, err := parseActor(s)
		if err != nil {
			return nil, fmt.Errorf("policy: actors[%d]: %v", i, err)
		}
		p.actors = append(p.actors, a)
	}
	if err := checkTimes(spec); err != nil {
		return nil, err
	}
	var err error
	if p.approval, err = compileApproval(spec); err != nil {
		return nil, err
	}
	if p.limits, err = compileLimits(spec, p.windows); err != nil {
		return nil, err
	}
	if spec.NotBefore != nil {
		p.notBefore = *spec.NotBefore
	}
	if spec.NotAfter != nil {
		p.notAfter = *spec.NotAfter
	}
	return p, nil
}

// Destinations returns the compiled destinations (a copy). For a policy
// made by All they are the first member's: the most specific grant's.
func (p *Policy) Destinations() []Destination {
	if p.all != nil {
		return p.all[0].Destinations()
	}
	return append([]Destination(nil), p.destinations...)
}

// Rule names, as they appear in decisions, audit records and 403 bodies.
const (
	RuleDestination = "destination"
	RuleMethod      = "method"
	RulePath        = "path"
	RuleTimeWindow  = "time_window"
	RuleSourceIP    = "source_ip"
	RuleActor       = "actor"
	// RuleApproval and RuleRateLimit (govern.go) are never Decide's: the
	// proxy applies them after Decide allows.
)

// Input is one request, as the proxy saw it. Host and Port must come from
// the connection's authority (the CONNECT target inside a tunnel), never
// from a header the client could choose independently; SourceIP must be the
// TCP peer, never a header such as X-Forwarded-For; Actor must be the client
// the proxy authenticated, never a name the client merely claims.
type Input struct {
	Scheme   string // "https" or "http", as the client asked
	Host     string // normalised with NormalizeHost
	Port     int
	Method   string
	Path     string // url.URL.Path or url.URL.EscapedPath(); see path.go
	SourceIP netip.Addr
	Actor    string // the authenticated proxy client; empty when clients are not authenticated
	Now      time.Time
}

// Decision is the outcome for one request.
type Decision struct {
	Allowed bool
	Rule    string // the rule that failed; empty when allowed
	Reason  string // short, client-safe explanation; never a secret or an address
	// Target is where the request must be sent when allowed. It differs from
	// the input only when a plain-http request is upgraded to TLS because the
	// grant allows the host over https alone.
	Target Destination
}

// Decide evaluates the policy for one request. It fails closed: anything it
// cannot match is denied. Rules are checked in a fixed order (destination,
// source IP, actor, time, method, path) and the first that fails is named.
func (p *Policy) Decide(in Input) Decision {
	if p == nil {
		return deny(RuleDestination, "grant has no policy")
	}
	if p.all != nil {
		return p.decideAll(in)
	}
	target, ok := p.destination(in.Scheme, in.Host, in.Port)
	if !ok {
		return deny(RuleDestination, "destination not allowed for this grant")
	}
	if !p.allowsSource(in.SourceIP) {
		return deny(RuleSourceIP, "source address not allowed for this grant")
	}
	if !p.allowsActor(in.Actor) {
		return deny(RuleActor, "proxy client not allowed for this grant")
	}
	if reason := p.checkTime(in.Now); reason != "" {
		return deny(RuleTimeWindow, reason)
	}
	if !p.allowsMethod(in.Method) {
		return deny(RuleMethod, "method not allowed for this grant")
	}
	if reason := p.checkPath(in.Path); reason != "" {
		return deny(RulePath, reason)
	}
	return Decision{Allowed: true, Target: target}
}

func deny(rule, reason string) Decision { return Decision{Rule: rule, Reason: reason} }

// checkTime applies not-before, not-after and the windows.
func (p *Policy) checkTime(now time.Time) string {
	hasBounds := !p.notBefore.IsZero() || !p.notAfter.IsZero()
	if hasBounds && now.IsZero() {
		return "no clock to check the grant's validity period"
	}
	if !p.notBefore.IsZero() && now.Before(p.notBefore) {
		return "the grant is not valid yet"
	}
	if !p.notAfter.IsZero() && !now.Before(p.notAfter) {
		return "the grant's validity period has ended"
	}
	if !p.inWindows(now) {
		return "outside the grant's allowed time windows"
	}
	return ""
}

// destination finds the target for a request. A plain-http request whose host
// the grant allows only over https is upgraded: the credential then never
// crosses the network in clear text. Port 80 (the http default) maps to 443;
// any other explicit port is kept.
func (p *Policy) destination(scheme, host string, port int) (Destination, bool) {
	if p.allows(scheme, host, port) {
		return Destination{Scheme: scheme, Host: host, Port: port}, true
	}
	if scheme == "http" {
		tlsPort := port
		if port == DefaultPort("http") {
			tlsPort = DefaultPort("https")
		}
		if p.allows("https", host, tlsPort) {
			return Destination{Scheme: "https", Host: host, Port: tlsPort}, true
		}
	}
	return Destination{}, false
}

func (p *Policy) allows(scheme, host string, port int) bool {
	for _, d := range p.destinations {
		if d.Matches(scheme, host, port) {
			return true
		}
	}
	return false
}

// CoversHost reports whether any destination could be reached through a
// CONNECT to host:port, whatever the scheme. The proxy uses it to choose the
// tunnels it must terminate (mitm.hosts: auto).
func (p *Policy) CoversHost(host string, port int) bool {
	if p.all != nil {
		for _, q := range p.all {
			if !q.CoversHost(host, port) {
				return false
			}
		}
		return true
	}
	for _, d := range p.destinations {
		if d.Port == port && d.MatchesHost(host) {
			return true
		}
	}
	return false
}
