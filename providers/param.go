package providers

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/alter-sidecar/alter/policy"
)

// Param is a non-secret value given as --param NAME=VALUE: it fills in
// host names (a Datadog site, a Shopify shop) and sometimes a fixed header.
// Exactly one of Values, Pattern and Check says what is valid.
type Param struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Values      []string `json:"values,omitempty"`  // the allowed values
	Pattern     string   `json:"pattern,omitempty"` // a regexp the whole value matches
	Check       string   `json:"check,omitempty"`   // a named check, see checks
	Default     string   `json:"default,omitempty"`
	Optional    bool     `json:"optional,omitempty"`
	Example     string   `json:"example,omitempty"`

	re *regexp.Regexp
}

// Required reports whether the user must give the parameter.
func (p *Param) Required() bool { return !p.Optional && p.Default == "" }

// Help describes the parameter and what it accepts, for error messages.
func (p *Param) Help() string {
	var b strings.Builder
	b.WriteString(p.Description)
	switch {
	case len(p.Values) > 0:
		fmt.Fprintf(&b, "; one of: %s", strings.Join(p.Values, ", "))
	case p.Check != "":
		fmt.Fprintf(&b, "; %s", checks[p.Check].what)
	case p.Pattern != "":
		fmt.Fprintf(&b, "; matching %s", p.Pattern)
	}
	if p.Default != "" {
		fmt.Fprintf(&b, "; default %s", p.Default)
	}
	if p.Example != "" {
		fmt.Fprintf(&b, "; e.g. %s", p.Example)
	}
	return b.String()
}

// namedCheck is a reusable validation, so the catalog does not repeat the
// same regexp for every "NAME.example.com" parameter.
type namedCheck struct {
	what string
	ok   func(string) bool
}

var dnsLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
var hostPortRE = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]{1,5})?$`)

var checks = map[string]namedCheck{
	"dns_label": {"a single DNS label (letters, digits, '-', at most 63)", dnsLabelRE.MatchString},
	// host: a name for https (no scheme, path or wildcard); the destination
	// parser has the final word on normalisation and ports.
	"host": {"a host name with an optional :port (https is implied)", func(v string) bool {
		if !hostPortRE.MatchString(v) {
			return false
		}
		_, err := policy.ParseDestination(v)
		return err == nil
	}},
}

// check validates a given value.
func (p *Param) check(v string) error {
	for i := 0; i < len(v); i++ {
		// Values land in host names and header values: nothing outside
		// printable ASCII, and no braces that would read as placeholders.
		if c := v[i]; c <= ' ' || c >= 0x7f || c == '{' || c == '}' {
			return fmt.Errorf("contains a space, control, non-ASCII or brace character")
		}
	}
	switch {
	case len(p.Values) > 0:
		if !slices.Contains(p.Values, v) {
			return fmt.Errorf("not an allowed value")
		}
	case p.Check != "":
		if !checks[p.Check].ok(v) {
			return fmt.Errorf("not a valid %s", strings.ReplaceAll(p.Check, "_", " "))
		}
	case p.re != nil:
		if !p.re.MatchString(v) {
			return fmt.Errorf("does not match the pattern")
		}
	}
	return nil
}

// newParam validates a catalog parameter.
func newParam(w wireParam) (*Param, error) {
	p := &Param{Name: w.Name, Description: w.Description, Values: w.Values, Pattern: w.Pattern, Check: w.Check,
		Default: w.Default, Optional: w.Optional, Example: w.Example}
	if !nameRE.MatchString(p.Name) {
		return nil, fmt.Errorf("params: name %q must match %s", p.Name, nameRE)
	}
	if strings.TrimSpace(p.Description) == "" {
		return nil, fmt.Errorf("params.%s: description is required", p.Name)
	}
	set := 0
	for _, b := range []bool{len(p.Values) > 0, p.Pattern != "", p.Check != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("params.%s: exactly one of values, pattern, check is required", p.Name)
	}
	if p.Check != "" {
		if _, ok := checks[p.Check]; !ok {
			return nil, fmt.Errorf("params.%s: check %q is unknown (known: dns_label, host)", p.Name, p.Check)
		}
	}
	if p.Pattern != "" {
		re, err := regexp.Compile(`^(?:` + p.Pattern + `)$`)
		if err != nil {
			return nil, fmt.Errorf("params.%s: pattern: %v", p.Name, err)
		}
		p.re = re
	}
	if p.Optional && p.Default != "" {
		return nil, fmt.Errorf("params.%s: optional and default together: a default already makes it optional", p.Name)
	}
	if p.Required() && p.Example == "" {
		return nil, fmt.Errorf("params.%s: a required parameter needs an example (used in docs and to test the entry)", p.Name)
	}
	for key, v := range map[string]string{"default": p.Default, "example": p.Example} {
		if v != "" {
			if err := p.check(v); err != nil {
				return nil, fmt.Errorf("params.%s: %s %q: %v", p.Name, key, v, err)
			}
		}
	}
	return p, nil
}
