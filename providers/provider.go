package providers

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
)

// Provider is one template of the catalog. It is shared and read-only.
type Provider struct {
	Name   string   `json:"name"`
	Title  string   `json:"title"`
	Docs   string   `json:"docs"`
	Fields []Field  `json:"fields"` // secret, from stdin, in asking order
	Params []*Param `json:"params,omitempty"`
	// Hosts are destination templates; {param} is filled in by Build.
	Hosts []string `json:"hosts"`
	// Inject is the spec template: {param} is filled in by Build, {field}
	// stays for the injector.
	Inject inject.Spec `json:"inject"`

	hook hook
}

// Field is a secret value the user gives on stdin.
type Field struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`
	Optional    bool   `yaml:"optional" json:"optional,omitempty"`
}

// Kind is the credential type the provider injects (inject.TypeBearer, ...).
func (p *Provider) Kind() string { return p.Inject.Type }

// ExampleParams returns an example value for every parameter the user must
// give (required, no default): what the docs and the tests use.
func (p *Provider) ExampleParams() map[string]string {
	out := map[string]string{}
	for _, prm := range p.Params {
		if prm.Required() {
			out[prm.Name] = prm.Example
		}
	}
	return out
}

// Result is a template filled in with parameters: everything "secret add"
// needs besides the secret values.
type Result struct {
	Spec         inject.Spec // compiles with inject.Compile
	Destinations []string    // for policy.Spec; each parses with policy.ParseDestination
	// Fields are the secret field names to read from stdin, in asking
	// order; Optional marks those that may be left out.
	Fields   []string
	Optional map[string]bool
	// Params are the parameter values used, defaults included (not secret).
	Params map[string]string
}

// ErrBadParam is wrapped by every Build error about parameters.
var ErrBadParam = errors.New("invalid provider parameter")

// Build fills the template in with params (--param NAME=VALUE pairs) and
// checks the outcome: a parameter that is unknown, missing or invalid is an
// error wrapping ErrBadParam that says what the provider expects.
func (p *Provider) Build(params map[string]string) (Result, error) {
	for name := range params {
		if p.param(name) == nil {
			return Result{}, fmt.Errorf("%w: provider %s has no parameter %q; %s", ErrBadParam, p.Name, name, p.paramHelp())
		}
	}
	values := map[string]string{}
	for _, prm := range p.Params {
		v, given := params[prm.Name]
		if !given || v == "" {
			if prm.Required() {
				return Result{}, fmt.Errorf("%w: provider %s needs --param %s=VALUE: %s", ErrBadParam, p.Name, prm.Name, prm.Help())
			}
			v = prm.Default
		}
		if v == "" {
			continue
		}
		if err := prm.check(v); err != nil {
			return Result{}, fmt.Errorf("%w: provider %s: --param %s=%q: %v; expected %s", ErrBadParam, p.Name, prm.Name, v, err, prm.Help())
		}
		values[prm.Name] = v
	}
	r := Result{Params: values, Spec: substSpec(p.Inject, values)}
	for _, h := range p.Hosts {
		if names := placeholders(h); !allSet(names, values) {
			continue // names an optional parameter left unset
		}
		r.Destinations = append(r.Destinations, subst(h, values))
	}
	if p.hook != nil {
		if err := p.hook(values, &r); err != nil {
			return Result{}, fmt.Errorf("%w: provider %s: %v", ErrBadParam, p.Name, err)
		}
	}
	for _, d := range r.Destinations {
		if _, err := policy.ParseDestination(d); err != nil {
			return Result{}, fmt.Errorf("%w: provider %s: host %s: %v", ErrBadParam, p.Name, d, err)
		}
	}
	if _, err := inject.Compile(r.Spec); err != nil {
		return Result{}, fmt.Errorf("provider %s: %w", p.Name, err)
	}
	names, optional, err := r.Spec.FieldNames()
	if err != nil {
		return Result{}, fmt.Errorf("provider %s: %w", p.Name, err)
	}
	r.Fields = slices.Clone(names)
	r.Optional = map[string]bool{}
	for k, v := range optional {
		r.Optional[k] = v
	}
	return r, nil
}

func (p *Provider) param(name string) *Param {
	for _, prm := range p.Params {
		if prm.Name == name {
			return prm
		}
	}
	return nil
}

// paramHelp lists what the provider takes, for error messages.
func (p *Provider) paramHelp() string {
	if len(p.Params) == 0 {
		return "it takes no parameters"
	}
	var out []string
	for _, prm := range p.Params {
		out = append(out, prm.Name+" ("+prm.Help()+")")
	}
	return "it takes: " + strings.Join(out, "; ")
}

var placeholderRE = regexp.MustCompile(`\{([a-z0-9_]+)\}`)

func placeholders(s string) []string {
	var out []string
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

func allSet(names []string, values map[string]string) bool {
	for _, n := range names {
		if values[n] == "" {
			return false
		}
	}
	return true
}

// subst replaces {param} with its value in one pass, so a value is never
// itself searched for placeholders; {field} placeholders are left alone.
func subst(s string, values map[string]string) string {
	return placeholderRE.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := values[m[1:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// substSpec returns a filled-in copy of the template; it shares no slice
// with it, so the catalog stays immutable.
func substSpec(t inject.Spec, values map[string]string) inject.Spec {
	s := t
	s.Header, s.Format, s.Basic, s.Path = subst(t.Header, values), subst(t.Format, values), subst(t.Basic, values), subst(t.Path, values)
	s.Region, s.Service = subst(t.Region, values), subst(t.Service, values)
	s.Fields = slices.Clone(t.Fields)
	s.Headers, s.Query, s.Defaults = nil, nil, nil
	for _, r := range t.Headers {
		s.Headers = append(s.Headers, inject.Rule{Name: r.Name, Format: subst(r.Format, values)})
	}
	for _, r := range t.Query {
		s.Query = append(s.Query, inject.Rule{Name: r.Name, Format: subst(r.Format, values)})
	}
	for _, d := range t.Defaults {
		s.Defaults = append(s.Defaults, inject.StaticHeader{Name: d.Name, Value: subst(d.Value, values)})
	}
	if t.Mint != nil {
		s.Mint = substMint(*t.Mint, values)
	}
	return s
}

// substMint fills in a minted type's settings; the copy shares no slice or
// map with the template. A scope that names an optional parameter left
// unset is dropped, as a host is.
func substMint(m inject.MintSpec, values map[string]string) *inject.MintSpec {
	out := m
	out.TokenURL, out.Audience, out.Resource = subst(m.TokenURL, values), subst(m.Audience, values), subst(m.Resource, values)
	out.AppID, out.InstallationID = subst(m.AppID, values), subst(m.InstallationID, values)
	out.Issuer, out.Subject, out.KeyID = subst(m.Issuer, values), subst(m.Subject, values), subst(m.KeyID, values)
	out.Scopes = nil
	for _, sc := range m.Scopes {
		if allSet(placeholders(sc), values) {
			out.Scopes = append(out.Scopes, subst(sc, values))
		}
	}
	out.Params = nil
	for k, v := range m.Params {
		if out.Params == nil {
			out.Params = map[string]string{}
		}
		out.Params[k] = subst(v, values)
	}
	out.Repositories = slices.Clone(m.Repositories)
	out.Permissions = maps.Clone(m.Permissions)
	return &out
}
