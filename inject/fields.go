// Package inject turns a stored credential into the bytes an upstream API
// expects: an Authorization header, an API-key header, Basic auth. A Spec says
// how (it is not secret and is validated when stored); Fields holds the secret
// material. Outbound builds the proxy's copy of a request and injects into it: a pure
// function of the inbound request, the destination and the secret.
package inject

import (
	"fmt"
	"sort"
	"strings"
)

// Fields is a credential's named secret values ("token", "username",
// "password", ...). It cannot be printed by accident: every formatting path
// prints only the field names.
type Fields map[string]string

const redacted = "[redacted]"

// String lists the field names, never the values.
func (f Fields) String() string {
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	sort.Strings(names)
	return "Fields{" + strings.Join(names, ",") + ": " + redacted + "}"
}

// GoString keeps %#v from printing values.
func (f Fields) GoString() string { return f.String() }

// Format keeps every fmt verb from printing values.
func (f Fields) Format(s fmt.State, _ rune) { _, _ = s.Write([]byte(f.String())) }

// MarshalJSON keeps encoders from printing values.
func (f Fields) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText keeps text encoders (and loggers using them) from printing values.
func (f Fields) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Names returns the field names in sorted order.
func (f Fields) Names() []string {
	names := make([]string, 0, len(f))
	for k := range f {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// checkValue refuses values that could split or end a header line, or that
// are empty. The error names the field, never the value.
func checkValue(name, v string) error {
	if v == "" {
		return fmt.Errorf("field %q is empty", name)
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\r' || c == '\n' || c == 0:
			return fmt.Errorf("field %q contains a CR, LF or NUL byte", name)
		case c < 0x20 && c != '\t', c == 0x7f:
			return fmt.Errorf("field %q contains a control character", name)
		}
	}
	return nil
}
