package inject

import (
	"net/url"
	"sort"
)

// MinEchoLen is the shortest value Secrets returns. Shorter values (a
// username such as "api", a 4-digit PIN) would be found in ordinary
// response text, and masking them there would corrupt responses.
const MinEchoLen = 8

// Secrets returns every form in which this injector puts the secret on the
// wire, so the proxy can mask them if an upstream echoes them back: the
// field values, each injected header value, the Basic credentials in base64,
// and the escaped forms a query or path rule sends. Longest first, so a
// longer form is masked before a shorter one inside it.
func (in *Injector) Secrets(f Fields) []string {
	seen := map[string]bool{}
	add := func(s string) {
		if len(s) >= MinEchoLen {
			seen[s] = true
		}
	}
	if in.mint != nil {
		add(f[MintedField]) // f holds the minted token, not the stored fields
	}
	for _, name := range in.fields {
		if name == "access_key_id" {
			continue // an identifier, not a secret; AWS echoes it in errors
		}
		add(f[name])
	}
	for _, h := range in.headers {
		add(h.tmpl.render(f))
	}
	if in.basic != nil {
		add(basicValue(in.basic.render(f)))
	}
	for _, q := range in.query {
		add(url.QueryEscape(q.tmpl.render(f)))
	}
	if in.path != nil {
		add(url.PathEscape(in.path.tmpl.render(f)))
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if len(out[i]) != len(out[j]) {
			return len(out[i]) > len(out[j])
		}
		return out[i] < out[j]
	})
	return out
}
