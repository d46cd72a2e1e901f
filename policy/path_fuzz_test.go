package policy

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzPathPrefix: whatever the client sends as a path, an allowed one,
// decoded the way any server might (once, twice, with or without splitting
// on ';'), is still under the prefix after cleaning.
func FuzzPathPrefix(f *testing.F) {
	for _, s := range []string{"/v1/charges", "/v1/charges/../x", "/v1/charges/%2e%2e/x", "/v1%2fcharges",
		"/v1/charges/%252e%252e/x", "/v1/charges/..;/x", "/v1/charges//x", "/v1/charges\\x", "/v1/charges/a%20b"} {
		f.Add(s)
	}
	p, err := Compile(Spec{Destinations: []string{"api.example.com"}, PathPrefixes: []string{"/v1/charges"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !p.Decide(Input{Scheme: "https", Host: "api.example.com", Port: 443, Method: "GET", Path: raw}).Allowed {
			return
		}
		views := []string{raw}
		if once, err := url.PathUnescape(raw); err == nil {
			views = append(views, once)
			if twice, err := url.PathUnescape(once); err == nil {
				views = append(views, twice)
			}
		}
		for _, v := range views {
			for _, form := range []string{v, strings.ReplaceAll(v, ";", "/")} {
				c := path.Clean(form)
				if c != "/v1/charges" && !strings.HasPrefix(c, "/v1/charges/") {
					t.Fatalf("allowed %q, which a server may read as %q", raw, c)
				}
			}
		}
	})
}
