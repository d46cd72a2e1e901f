package attack

import (
	"net/url"
	"strings"
	"testing"
)

// Class 4: what is injected, and where, is fixed when the secret is
// stored; bad values and templates are refused then; the client's own
// credential headers are replaced, never duplicated.
func TestAttackInjectionIntegrity(t *testing.T) {
	t.Parallel()
	e := startEnv(t, envOpts{setup: func(e *env) {
		e.addGrant("api", "--type", "bearer", "--allow-host", "api.attack.test")
		e.addGrant("key", "--type", "api_key", "--header", "X-API-Key", "--allow-host", "api.attack.test")
		e.addGrant("query", "--type", "custom", "--field", "token", "--query-param", "api_key={token}", "--allow-host", "q.attack.test")
	}})

	t.Run("refused when stored", func(t *testing.T) {
		values := map[string]string{"CR": "tok\rX-Injected: 1", "LF": "tok\nX-Injected: 1", "CRLF": "tok\r\nX-Injected: 1",
			"NUL": "tok\x00", "DEL": "tok\x7f"}
		for name, v := range values {
			if _, err := e.alter(e.sentinel+v, "secret", "add", "--type", "bearer", "--allow-host", "api.attack.test"); err == nil {
				t.Errorf("bearer value with %s was stored", name)
			} else if strings.Contains(err.Error(), e.sentinel) {
				t.Errorf("LEAK: the refusal of a %s value repeats it", name)
			}
		}
		if _, err := e.alter(`{"username":"u\r\nX: 1","password":"`+e.sentinel+`"}`, "secret", "add", "--type", "basic", "--allow-host", "api.attack.test"); err == nil {
			t.Error("basic username with CRLF was stored")
		}
		templates := map[string][]string{
			"CRLF in format":           {"--type", "bearer", "--format", "Bearer {token}\r\nX-Injected: 1"},
			"header name with space":   {"--type", "api_key", "--header", "X API Key"},
			"header name with colon":   {"--type", "api_key", "--header", "X-Key:"},
			"header Host":              {"--type", "api_key", "--header", "Host"},
			"header Content-Length":    {"--type", "api_key", "--header", "content-length"},
			"header Transfer-Encoding": {"--type", "api_key", "--header", "Transfer-Encoding"},
			"header Connection":        {"--type", "api_key", "--header", "Connection"},
			"header X-Alter-Grant":     {"--type", "api_key", "--header", "x-alter-grant"},
			"set-header Host":          {"--type", "custom", "--field", "token", "--set-header", "Host: {token}"},
			"set-header X-Alter-*":     {"--type", "custom", "--field", "token", "--set-header", "X-Alter-Reason: {token}"},
			"default-header CRLF":      {"--type", "custom", "--field", "token", "--set-header", "X-K: {token}", "--default-header", "X-D: a\r\nX-E: b"},
			"unknown field":            {"--type", "custom", "--field", "token", "--set-header", "X-K: {other}"},
		}
		for name, args := range templates {
			args = append(args, "--allow-host", "api.attack.test")
			if _, err := e.alter(e.sentinel, append([]string{"secret", "add"}, args...)...); err == nil {
				t.Errorf("%s was stored", name)
			}
		}
	})

	bearer := "Bearer " + e.secret("api")
	through := func(grant string, lines ...string) func() *resp {
		return func() *resp {
			return e.send(req(append([]string{"GET https://api.attack.test/i HTTP/1.1", "Host: api.attack.test", "X-Alter-Grant: " + grant}, lines...)...))
		}
	}
	t.Run("client cannot choose header, format or destination", func(t *testing.T) {
		s := e.allowed(t, e.good, through(e.grants["api"], "X-Alter-Header: X-Leak", "X-Alter-Format: {token}",
			"X-Alter-Destination: evil.attack.test", "X-Alter-Inject: query", "X-Alter-Type: basic"))
		if v := s.Header.Values("Authorization"); len(v) != 1 || v[0] != bearer {
			t.Errorf("Authorization: %d values", len(v))
		}
		for k, vs := range s.Header {
			for _, v := range vs {
				if k != "Authorization" && strings.Contains(v, e.sentinel) {
					t.Errorf("the secret landed in %s", k)
				}
			}
		}
	})
	t.Run("client Authorization replaced, not duplicated", func(t *testing.T) {
		s := e.allowed(t, e.good, through(e.grants["api"], "Authorization: Bearer client", "authorization: Basic Zm9vOmJhcg==", "AUTHORIZATION: x"))
		if v := s.Header.Values("Authorization"); len(v) != 1 || v[0] != bearer {
			t.Errorf("Authorization: %d values, want the injected one only", len(v))
		}
	})
	t.Run("client api key header replaced, any case", func(t *testing.T) {
		s := e.allowed(t, e.good, through(e.grants["key"], "X-API-Key: client", "x-api-key: client2"))
		if v := s.Header.Values("X-Api-Key"); len(v) != 1 || v[0] != e.secret("key") {
			t.Errorf("X-API-Key: %d values, want the injected one only", len(v))
		}
	})
	t.Run("query injection keeps other parameters, replaces the client's", func(t *testing.T) {
		s := e.allowed(t, e.good, func() *resp {
			return e.send(absGet("https://q.attack.test/s?a=1&api_key=client&API_KEY=x&b=2&a=3&api%5Fkey=enc&api_key", "q.attack.test", e.grants["query"]))
		})
		q, err := url.ParseQuery(s.Query)
		if err != nil {
			t.Fatalf("upstream query %q: %v", strings.ReplaceAll(s.Query, e.sentinel, "SECRET"), err)
		}
		if v := q["api_key"]; len(v) != 1 || v[0] != e.secret("query") {
			t.Errorf("api_key: %d values, want the injected one only (query %q)", len(v), strings.ReplaceAll(s.Query, e.sentinel, "SECRET"))
		}
		if strings.Join(q["a"], ",") != "1,3" || strings.Join(q["b"], ",") != "2" || strings.Join(q["API_KEY"], ",") != "x" {
			t.Errorf("other parameters changed: %q", strings.ReplaceAll(s.Query, e.sentinel, "SECRET"))
		}
	})
}
