package main

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/alter-sidecar/alter/inject"
)

// specFlags are the flags of `alter secret add` that say how a credential
// is injected when no provider template does.
type specFlags struct {
	typ, header, format string
	fields              []string
	setHeaders          []string
	queryParams         []string
	basic, pathSegment  string
	defaults            []string
	specFile            string
	unsignedPayload     bool
	params              []string
}

func addSpecFlags(fs *pflag.FlagSet) *specFlags {
	f := &specFlags{}
	fs.StringVar(&f.typ, "type", "", "credential type: "+strings.Join(inject.Types(), ", "))
	fs.StringVar(&f.header, "header", "", "bearer/api_key: header that carries the credential (api_key needs it)")
	fs.StringVar(&f.format, "format", "", "bearer/api_key: value template with {field} placeholders, e.g. \"Token {token}\"")
	fs.StringArrayVar(&f.fields, "field", nil, "custom: a secret field name (repeatable), e.g. --field api_key --field app_key")
	fs.StringArrayVar(&f.setHeaders, "set-header", nil, "custom: \"Name: template\" header rule (repeatable)")
	fs.StringArrayVar(&f.queryParams, "query-param", nil, "custom: \"name=template\" query parameter rule (repeatable)")
	fs.StringVar(&f.basic, "basic", "", "custom: \"user:password\" template sent as Basic auth, e.g. \"api:{api_key}\"")
	fs.StringVar(&f.pathSegment, "path-segment", "", "custom: first path segment template, e.g. \"bot{token}\"")
	fs.StringArrayVar(&f.defaults, "default-header", nil, "custom: \"Name: value\" set only when the client sent none (repeatable)")
	fs.StringVar(&f.specFile, "spec", "", "custom: YAML or JSON file with fields, headers, query, basic, path and defaults")
	fs.BoolVar(&f.unsignedPayload, "unsigned-payload", false, "aws_sigv4: sign UNSIGNED-PAYLOAD so bodies stream (S3)")
	fs.StringArrayVar(&f.params, "param", nil, "non-secret parameter K=V (repeatable): provider parameters, region/service for aws_sigv4, or for the minted types "+strings.Join(mintParams, ", ")+", param.NAME")
	return f
}

// paramMap parses the --param values.
func (f *specFlags) paramMap() (map[string]string, error) {
	out := map[string]string{}
	for _, p := range f.params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("--param %q: want KEY=VALUE", p)}
		}
		if _, dup := out[k]; dup {
			return nil, usageError{fmt.Errorf("--param %s given twice", k)}
		}
		out[k] = v
	}
	return out, nil
}

// build turns the flags into a Spec; inject.Compile validates it.
func (f *specFlags) build() (inject.Spec, error) {
	params, err := f.paramMap()
	if err != nil {
		return inject.Spec{}, err
	}
	s := inject.Spec{Type: f.typ, Header: f.header, Format: f.format}
	switch f.typ {
	case inject.TypeCustom:
		if err := f.buildCustom(&s); err != nil {
			return s, err
		}
	case inject.TypeAWSSigV4:
		s.Region, s.Service, s.UnsignedPayload = params["region"], params["service"], f.unsignedPayload
		delete(params, "region")
		delete(params, "service")
	default:
		if inject.IsMinted(f.typ) {
			if err := buildMint(&s, params); err != nil {
				return s, err
			}
		}
	}
	if len(params) > 0 {
		return s, usageError{fmt.Errorf("--param %s: type %s takes no such parameter", strings.Join(sortedKeys(params), ", "), f.typ)}
	}
	return s, nil
}

func (f *specFlags) buildCustom(s *inject.Spec) error {
	if f.specFile != "" {
		if err := readSpecFile(f.specFile, s); err != nil {
			return err
		}
	}
	s.Fields = append(s.Fields, f.fields...)
	for _, h := range f.setHeaders {
		name, tmpl, ok := strings.Cut(h, ":")
		if !ok {
			return usageError{fmt.Errorf("--set-header %q: want \"Name: template\"", h)}
		}
		s.Headers = append(s.Headers, inject.Rule{Name: strings.TrimSpace(name), Format: strings.TrimSpace(tmpl)})
	}
	for _, q := range f.queryParams {
		name, tmpl, ok := strings.Cut(q, "=")
		if !ok {
			return usageError{fmt.Errorf("--query-param %q: want \"name=template\"", q)}
		}
		s.Query = append(s.Query, inject.Rule{Name: name, Format: tmpl})
	}
	if f.basic != "" {
		s.Basic = f.basic
	}
	if f.pathSegment != "" {
		s.Path = f.pathSegment
	}
	for _, d := range f.defaults {
		name, value, ok := strings.Cut(d, ":")
		if !ok {
			return usageError{fmt.Errorf("--default-header %q: want \"Name: value\"", d)}
		}
		s.Defaults = append(s.Defaults, inject.StaticHeader{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	return nil
}

// specFile is the file form of a custom credential's rules.
type specFile struct {
	Fields  []string `yaml:"fields"`
	Headers []struct {
		Name   string `yaml:"name"`
		Format string `yaml:"format"`
	} `yaml:"headers"`
	Query []struct {
		Name   string `yaml:"name"`
		Format string `yaml:"format"`
	} `yaml:"query"`
	Basic    string `yaml:"basic"`
	Path     string `yaml:"path"`
	Defaults []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"defaults"`
}

// readSpecFile reads a YAML (or JSON, which is YAML) rules file strictly.
func readSpecFile(path string, s *inject.Spec) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--spec: %w", err)
	}
	var w specFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("--spec %s: %s (keys: fields, headers, query, basic, path, defaults)", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	s.Fields = append(s.Fields, w.Fields...)
	for _, h := range w.Headers {
		s.Headers = append(s.Headers, inject.Rule{Name: h.Name, Format: h.Format})
	}
	for _, q := range w.Query {
		s.Query = append(s.Query, inject.Rule{Name: q.Name, Format: q.Format})
	}
	s.Basic, s.Path = w.Basic, w.Path
	for _, d := range w.Defaults {
		s.Defaults = append(s.Defaults, inject.StaticHeader{Name: d.Name, Value: d.Value})
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
