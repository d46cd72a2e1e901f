package providers

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/alter-sidecar/alter/inject"
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// newProvider turns one catalog entry into a Provider and proves it works:
// it is built with example parameters (all of them, then only the required
// ones) and the result must compile and yield valid destinations.
func newProvider(w wireProvider) (*Provider, error) {
	p := &Provider{Name: w.Name, Title: w.Title, Docs: w.Docs, Fields: w.Fields, Hosts: w.Hosts}
	if !nameRE.MatchString(p.Name) {
		return nil, fmt.Errorf("name %q must match %s", p.Name, nameRE)
	}
	for key, v := range map[string]string{"title": p.Title, "docs": p.Docs} {
		if strings.TrimSpace(v) == "" || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("%s: one non-empty line is required", key)
		}
	}
	if w.Hook != "" {
		h, ok := hooks[w.Hook]
		if !ok {
			return nil, fmt.Errorf("hook %q is unknown", w.Hook)
		}
		p.hook = h
	}
	if err := p.setInject(w.Inject); err != nil {
		return nil, err
	}
	if err := p.checkFields(); err != nil {
		return nil, err
	}
	for _, wp := range w.Params {
		prm, err := newParam(wp)
		if err != nil {
			return nil, err
		}
		if p.param(prm.Name) != nil || p.hasField(prm.Name) {
			return nil, fmt.Errorf("params.%s: name used twice (params and fields share {placeholders})", prm.Name)
		}
		p.Params = append(p.Params, prm)
	}
	if len(p.Hosts) == 0 {
		return nil, fmt.Errorf("hosts: at least one is required")
	}
	if err := p.checkPlaceholders(); err != nil {
		return nil, err
	}
	all := p.ExampleParams()
	for _, prm := range p.Params {
		if prm.Example != "" {
			all[prm.Name] = prm.Example
		}
	}
	for _, params := range []map[string]string{p.ExampleParams(), all} {
		if _, err := p.Build(params); err != nil {
			return nil, fmt.Errorf("built with example params %v: %w", params, err)
		}
	}
	return p, nil
}

func (p *Provider) setInject(w wireInject) error {
	s := inject.Spec{Type: w.Type, Header: w.Header, Format: w.Format, Basic: w.Basic, Path: w.Path,
		Region: w.Region, Service: w.Service, UnsignedPayload: w.UnsignedPayload}
	for _, r := range w.Headers {
		s.Headers = append(s.Headers, inject.Rule{Name: r.Name, Format: r.Format})
	}
	for _, r := range w.Query {
		s.Query = append(s.Query, inject.Rule{Name: r.Name, Format: r.Format})
	}
	for _, d := range w.Defaults {
		s.Defaults = append(s.Defaults, inject.StaticHeader{Name: d.Name, Value: d.Value})
	}
	if m := w.Mint; m != nil {
		s.Mint = &inject.MintSpec{TokenURL: m.TokenURL, Scopes: m.Scopes, Audience: m.Audience, Resource: m.Resource,
			ClientAuth: m.ClientAuth, GrantType: m.GrantType, Params: m.Params, AppID: m.AppID, InstallationID: m.InstallationID,
			Algorithm: m.Algorithm, KeyID: m.KeyID, Issuer: m.Issuer, Subject: m.Subject, Lifetime: m.Lifetime}
	}
	if s.Type == inject.TypeCustom {
		for _, f := range p.Fields {
			s.Fields = append(s.Fields, f.Name)
		}
	}
	if !slices.Contains(inject.Types(), s.Type) {
		return fmt.Errorf("inject.type %q is unknown (known: %s)", s.Type, strings.Join(inject.Types(), ", "))
	}
	p.Inject = s
	return nil
}

// checkFields makes the catalog's field list say exactly what the credential
// type reads, optional markers included: the list is what users are asked.
func (p *Provider) checkFields() error {
	want, optional, err := p.Inject.FieldNames()
	if err != nil {
		return err
	}
	var got []string
	for _, f := range p.Fields {
		if strings.TrimSpace(f.Description) == "" {
			return fmt.Errorf("fields.%s: description is required", f.Name)
		}
		if f.Optional != optional[f.Name] {
			return fmt.Errorf("fields.%s: optional is %v, but type %s says %v", f.Name, f.Optional, p.Inject.Type, optional[f.Name])
		}
		got = append(got, f.Name)
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("fields: %v, but type %s reads %v", got, p.Inject.Type, want)
	}
	return nil
}

func (p *Provider) hasField(name string) bool {
	return slices.ContainsFunc(p.Fields, func(f Field) bool { return f.Name == name })
}

// checkPlaceholders: hosts may only name parameters, and every parameter
// must be used somewhere (unless a hook consumes it), so nobody is asked
// for a value that changes nothing.
func (p *Provider) checkPlaceholders() error {
	used := map[string]bool{}
	for _, h := range p.Hosts {
		for _, n := range placeholders(h) {
			if p.param(n) == nil {
				return fmt.Errorf("hosts: %q names {%s}, which is not a parameter", h, n)
			}
			used[n] = true
		}
	}
	s := p.Inject
	texts := []string{s.Header, s.Format, s.Basic, s.Path, s.Region, s.Service}
	for _, r := range append(slices.Clone(s.Headers), s.Query...) {
		texts = append(texts, r.Format)
	}
	for _, d := range s.Defaults {
		texts = append(texts, d.Value)
	}
	if m := s.Mint; m != nil {
		texts = append(texts, m.TokenURL, m.Audience, m.Resource, m.AppID, m.InstallationID, m.Issuer, m.Subject, m.KeyID)
		texts = append(texts, m.Scopes...)
		for _, v := range m.Params {
			texts = append(texts, v)
		}
	}
	for _, t := range texts {
		for _, n := range placeholders(t) {
			used[n] = true
		}
	}
	for _, prm := range p.Params {
		if !used[prm.Name] && p.hook == nil {
			return fmt.Errorf("params.%s: used by no host and no inject rule", prm.Name)
		}
	}
	return nil
}
