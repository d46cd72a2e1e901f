// Package providers is the built-in catalog of provider templates: for a
// named API (stripe, datadog, aws, ...) it knows which secret fields to ask
// for, which non-secret parameters to take, which hosts the credential may
// reach and how it is injected. "alter secret add --provider NAME" turns a
// template plus parameters into an inject.Spec and a destination list, so a
// user never has to spell out headers or hosts for a well-known API.
//
// The catalog is data: catalog.yaml, embedded in the binary and parsed once,
// strictly. Its format (version 1):
//
//	version: 1
//	providers:
//	- name: datadog                 # [a-z0-9_], unique
//	  title: Datadog
//	  docs: one line: the auth page and what is injected (or what is unsure)
//	  fields:                       # secret values from stdin, in this order
//	  - {name: api_key, description: "API key"}
//	  - {name: app_key, description: "application key"}
//	  params:                       # non-secret, --param NAME=VALUE
//	  - {name: site, description: "...", values: [datadoghq.com, ...], example: datadoghq.eu}
//	  hosts: ["api.{site}"]         # policy destinations; {param} is substituted
//	  inject:                       # an inject.Spec; {param} is substituted,
//	    type: custom                # {field} is left for injection
//	    headers:
//	    - {name: DD-API-KEY, format: "{api_key}"}
//
// A param is checked by exactly one of values (closed list), pattern (a
// regexp matched against the whole value) or check (dns_label or host); it
// may have a default, and is required unless it has one or says optional. A
// host naming an optional param left unset is dropped. hook names Go code
// that finishes a template the data cannot express (only aws, see aws.go).
//
// Every entry is built with its example parameters and compiled with
// inject.Compile at load, so a mistake in the file fails the package tests
// (and would panic in Catalog), never a user's request.
package providers

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed catalog.yaml
var embedded []byte

// ErrUnknownProvider is wrapped by Get's error for a name not in the catalog.
var ErrUnknownProvider = errors.New("unknown provider")

// Set is a validated, immutable catalog of providers (the type Catalog returns;
// Go does not let a type and a function share the name Catalog).
type Set struct {
	byName map[string]*Provider
	sorted []*Provider
}

var builtin = sync.OnceValues(func() (*Set, error) { return Load(embedded) })

// Catalog returns the built-in catalog. The embedded file is validated by
// the package tests, so a failure here is a build defect: it panics rather
// than serve a half-loaded catalog.
func Catalog() *Set {
	c, err := builtin()
	if err != nil {
		panic("providers: embedded catalog.yaml is broken: " + err.Error())
	}
	return c
}

// List returns every provider, sorted by name. The providers are shared:
// callers must not modify them.
func (c *Set) List() []*Provider { return append([]*Provider(nil), c.sorted...) }

// Get returns the provider called name. An unknown name is an error
// wrapping ErrUnknownProvider that suggests close names, or lists them all.
func (c *Set) Get(name string) (*Provider, error) {
	if p, ok := c.byName[strings.ToLower(strings.TrimSpace(name))]; ok {
		return p, nil
	}
	var names, close []string
	for _, p := range c.sorted {
		names = append(names, p.Name)
		if similar(strings.ToLower(name), p.Name) {
			close = append(close, p.Name)
		}
	}
	if len(close) > 0 {
		return nil, fmt.Errorf("%w %q: did you mean %s? (alter providers list shows all)", ErrUnknownProvider, name, strings.Join(close, ", "))
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownProvider, name, strings.Join(names, ", "))
}

// wireCatalog is the file's shape; Load turns it into Providers.
type wireCatalog struct {
	Version   int            `yaml:"version"`
	Providers []wireProvider `yaml:"providers"`
}

type wireProvider struct {
	Name   string      `yaml:"name"`
	Title  string      `yaml:"title"`
	Docs   string      `yaml:"docs"`
	Fields []Field     `yaml:"fields"`
	Params []wireParam `yaml:"params"`
	Hosts  []string    `yaml:"hosts"`
	Hook   string      `yaml:"hook"`
	Inject wireInject  `yaml:"inject"`
}

type wireParam struct {
	Name        string   `yaml:"name"`
	Description string   `yaml:"description"`
	Values      []string `yaml:"values"`
	Pattern     string   `yaml:"pattern"`
	Check       string   `yaml:"check"`
	Default     string   `yaml:"default"`
	Optional    bool     `yaml:"optional"`
	Example     string   `yaml:"example"`
}

// wireInject mirrors inject.Spec with the catalog's key names; Fields is
// not written in the file: a custom spec takes the provider's fields.
type wireInject struct {
	Type            string       `yaml:"type"`
	Header          string       `yaml:"header"`
	Format          string       `yaml:"format"`
	Headers         []wireRule   `yaml:"headers"`
	Query           []wireRule   `yaml:"query"`
	Basic           string       `yaml:"basic"`
	Path            string       `yaml:"path"`
	Defaults        []wireStatic `yaml:"defaults"`
	Region          string       `yaml:"region"`
	Service         string       `yaml:"service"`
	UnsignedPayload bool         `yaml:"unsigned_payload"`
	Mint            *wireMint    `yaml:"mint"`
}

// wireMint mirrors inject.MintSpec (the minted types) with the catalog's
// key names, which are the stored spec's.
type wireMint struct {
	TokenURL       string            `yaml:"token_url"`
	Scopes         []string          `yaml:"scopes"`
	Audience       string            `yaml:"audience"`
	Resource       string            `yaml:"resource"`
	ClientAuth     string            `yaml:"client_auth"`
	GrantType      string            `yaml:"grant_type"`
	Params         map[string]string `yaml:"params"`
	AppID          string            `yaml:"app_id"`
	InstallationID string            `yaml:"installation_id"`
	Algorithm      string            `yaml:"algorithm"`
	KeyID          string            `yaml:"key_id"`
	Issuer         string            `yaml:"issuer"`
	Subject        string            `yaml:"subject"`
	Lifetime       int               `yaml:"lifetime_seconds"`
}

type wireRule struct {
	Name   string `yaml:"name"`
	Format string `yaml:"format"`
}

type wireStatic struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// Load parses and validates a catalog file. Errors name the provider and
// the key at fault. The built-in catalog is Catalog(); Load is exported so
// broken fixtures can be tested.
func Load(data []byte) (*Set, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var w wireCatalog
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("provider catalog: %w", err)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		return nil, errors.New("provider catalog: more than one YAML document")
	}
	if w.Version != 1 {
		return nil, fmt.Errorf("provider catalog: version: want 1, got %d", w.Version)
	}
	if len(w.Providers) == 0 {
		return nil, errors.New("provider catalog: providers: empty")
	}
	c := &Set{byName: map[string]*Provider{}}
	for i, wp := range w.Providers {
		p, err := newProvider(wp)
		if err != nil {
			return nil, fmt.Errorf("provider catalog: providers[%d] (%s): %w", i, wp.Name, err)
		}
		if c.byName[p.Name] != nil {
			return nil, fmt.Errorf("provider catalog: providers[%d]: name %q used twice", i, p.Name)
		}
		c.byName[p.Name] = p
		c.sorted = append(c.sorted, p)
	}
	sort.Slice(c.sorted, func(i, j int) bool { return c.sorted[i].Name < c.sorted[j].Name })
	return c, nil
}

// similar reports whether a mistyped name is close to a known one: within
// two edits, or one contains the other ("git" and "github").
func similar(typed, known string) bool {
	if len(typed) >= 3 && (strings.Contains(known, typed) || strings.Contains(typed, known)) {
		return true
	}
	return editDistance(typed, known) <= 2
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
