package portal

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A form is described in Go and rendered by one generic template
// (templates/addsecret.html, "field"), so every input gets its label, its
// hint and its error the same way: <label for>, aria-describedby naming
// the hint and the error, aria-invalid when the error is set. A password
// input is never given a value: the template has no way to print one, and
// fill() does not read them back.

// input kinds.
const (
	inText     = "text"
	inPassword = "password"
	inTextarea = "textarea"
	inSelect   = "select"
	inCheckbox = "checkbox"
	inDateTime = "datetime-local"
)

type formField struct {
	Name     string // the form key; also the element id, prefixed "f-"
	Label    string
	Kind     string
	Value    string // never set for inPassword
	Hint     string
	Error    string
	Options  []string // inSelect
	Required bool
	Auto     string // autocomplete attribute
}

type formSection struct {
	Legend string
	Fields []*formField
}

type secretForm struct {
	Kind     string // "provider:NAME" or "type:TYPE"
	Title    string // what is being added, for the heading
	Docs     string // the provider's one-line note, if any
	Hosts    []string
	Sections []formSection
	Error    string // about the whole form
}

// Described is the field's aria-describedby: its hint and its error.
func (x *formField) Described() string {
	var ids []string
	if x.Hint != "" {
		ids = append(ids, "h-"+x.Name)
	}
	if x.Error != "" {
		ids = append(ids, "e-"+x.Name)
	}
	return strings.Join(ids, " ")
}

// field returns the field called name, or nil.
func (f *secretForm) field(name string) *formField {
	for _, s := range f.Sections {
		for _, x := range s.Fields {
			if x.Name == name {
				return x
			}
		}
	}
	return nil
}

// fill copies the submitted non-secret values back into the form.
func (f *secretForm) fill(r *http.Request) {
	for _, s := range f.Sections {
		for _, x := range s.Fields {
			if x.Kind != inPassword {
				x.Value = r.PostFormValue(x.Name)
			}
		}
	}
}

// value returns a submitted non-secret value, trimmed.
func (f *secretForm) value(name string) string {
	if x := f.field(name); x != nil && x.Kind != inPassword {
		return strings.TrimSpace(x.Value)
	}
	return ""
}

// fail sets an error on field name, or on the form if there is no such
// field. It reports false, for `return f.fail(...)`.
func (f *secretForm) fail(name, msg string) bool {
	if x := f.field(name); x != nil {
		if x.Error == "" {
			x.Error = msg
		}
		return false
	}
	if f.Error == "" {
		f.Error = msg
	}
	return false
}

// hasErrors reports whether any error is set.
func (f *secretForm) hasErrors() bool {
	if f.Error != "" {
		return true
	}
	for _, s := range f.Sections {
		for _, x := range s.Fields {
			if x.Error != "" {
				return true
			}
		}
	}
	return false
}

// lines splits a textarea or a comma-separated value into trimmed,
// non-empty entries.
func lines(s string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// parseTTL reads a clone's lifetime: a Go duration ("90m", "2h") or a
// number of days ("7d"). The message is for the page.
func parseTTL(s string) (time.Duration, string) {
	d, err := time.ParseDuration(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, cerr := strconv.Atoi(n)
		d, err = time.Duration(days)*24*time.Hour, cerr
	}
	if err != nil || d <= 0 || d > 10*365*24*time.Hour {
		return 0, "Enter a lifetime such as 30m, 12h or 7d."
	}
	return d, ""
}

// parseExpiry reads a datetime-local value as UTC; it must be in the
// future. The message is for the page.
func parseExpiry(s string, now time.Time) (*time.Time, string) {
	if s == "" {
		return nil, ""
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			if !t.After(now) {
				return nil, "The expiry must be in the future (times are UTC)."
			}
			return &t, ""
		}
	}
	return nil, "Enter the expiry as a date and time, e.g. 2030-12-31T23:59 (UTC)."
}
