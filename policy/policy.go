// Package policy decides whether one request may use a grant. It owns host
// normalisation and matching, the compiled form of a grant's policy, and the
// address checks of the SSRF guard. A decision is a value with a reason: the
// rule that failed is what the audit record and the 403 body name.
package policy

import (
	"errors"
	"fmt"
	"time"
)

// Spec is a grant's policy as it is stored: plain strings, validated by
// Compile. New rules are added as optional fields so stored grants keep
// loading.
type Spec struct {
	// Destinations lists where the credential may be sent, in the forms
	// ParseDestination accepts. Every grant has at least one.
	Destinations []string `json:"destinations"`
}

// Policy is the compiled, immutable form of a Spec. The hot path only reads it.
type Policy struct {
	destinations []Destination
}

// Compile validates spec and returns its immutable form. Errors name the
// offending entry.
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
	return p, nil
}

// Destinations returns the compiled destinations (a copy).
func (p *Policy) Destinations() []Destination {
	return append([]Destination(nil), p.destinations...)
}

// Rule names, as they appear in decisions, audit records and 403 bodies.
const (
	RuleDestination = "destination"
)

// Input is one request, as the proxy saw it. Host and Port must come from
// the connection's authority (the CONNECT target inside a tunnel), never
// from a header the client could choose independently.
type Input struct {
	Scheme string // "https" or "http", as the client asked
	Host   string // normalised with NormalizeHost
	Port   int
	Method string
	Path   string
	Now    time.Time
}

// Decision is the outcome for one request.
type Decision struct {
	Allowed bool
	Rule    string // the rule that failed; empty when allowed
	Reason  string // short, client-safe explanation; never a secret
	// Target is where the request must be sent when allowed. It differs from
	// the input only when a plain-http request is upgraded to TLS because the
	// grant allows the host over https alone.
	Target Destination
}

// Decide evaluates the policy for one request. It fails closed: anything it
// cannot match is denied.
func (p *Policy) Decide(in Input) Decision {
	if p == nil {
		return Decision{Rule: RuleDestination, Reason: "grant has no policy"}
	}
	target, ok := p.destination(in.Scheme, in.Host, in.Port)
	if !ok {
		return Decision{Rule: RuleDestination, Reason: "destination not allowed for this grant"}
	}
	return Decision{Allowed: true, Target: target}
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
	for _, d := range p.destinations {
		if d.Port == port && d.MatchesHost(host) {
			return true
		}
	}
	return false
}
