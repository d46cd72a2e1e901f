package api

import (
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/wire"
)

func TestStrictDecoding(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t))
	valid := `{"injection":{"type":"bearer"},"fields":{"token":"` + sentinel + `"},"policy":{"destinations":["a.example"]}}`
	cases := []struct {
		name, body string
		status     int
		code, want string
	}{
		{"unknown top-level field", `{"injection":{"type":"bearer"},"fields":{"token":"x"},"policy":{"destinations":["a.example"]},"admin":true}`, 400, wire.CodeInvalid, `"admin"`},
		{"unknown nested field", `{"injection":{"type":"bearer","secret":"x"},"fields":{"token":"x"},"policy":{"destinations":["a.example"]}}`, 400, wire.CodeInvalid, `"secret"`},
		{"unknown policy field", `{"injection":{"type":"bearer"},"fields":{"token":"x"},"policy":{"destinations":["a.example"],"allow_all":true}}`, 400, wire.CodeInvalid, `"allow_all"`},
		{"trailing data", valid + `{}`, 400, wire.CodeInvalid, "after"},
		{"two objects", valid + valid, 400, wire.CodeInvalid, "after"},
		{"not JSON", `fields=token`, 400, wire.CodeInvalid, "not valid JSON"},
		{"truncated with a secret", `{"fields":{"token":"` + sentinel, 400, wire.CodeInvalid, "truncated"},
		{"wrong type", `{"fields":{"token":12345}}`, 400, wire.CodeInvalid, "fields"},
		{"a time that quotes a secret", `{"expires_at":"` + sentinel + `"}`, 400, wire.CodeInvalid, "does not parse"},
		{"array", `[]`, 400, wire.CodeInvalid, "object"},
		{"empty", ``, 400, wire.CodeInvalid, "empty"},
		{"duplicate key", `{"app":"a","app":"b","injection":{"type":"bearer"},"fields":{"token":"x"},"policy":{"destinations":["a.example"]}}`, 400, wire.CodeInvalid, `"app" appears twice`},
		{"same key in another case", `{"APP":"billing","App":"other","injection":{"type":"bearer"},"fields":{"token":"x"},"policy":{"destinations":["a.example"]}}`, 400, wire.CodeInvalid, `"App" appears twice`},
		{"duplicate nested key", `{"injection":{"type":"bearer"},"fields":{"token":"A","Token":"B"},"policy":{"destinations":["a.example"]}}`, 400, wire.CodeInvalid, `"Token" appears twice`},
		{"duplicate key in an object in an array", `{"injection":{"type":"custom","fields":["k"],"headers":[{"name":"X-K","name":"X-J","format":"{k}"}]},"fields":{"k":"x"},"policy":{"destinations":["a.example"]}}`, 400, wire.CodeInvalid, `"name" appears twice`},
		{"too large", `{"name":"` + strings.Repeat("a", wire.MaxBody) + `"}`, 413, wire.CodeTooLarge, "1 MiB"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := e.call("POST", "/v1/secrets", e.admin, tc.body)
			checkError(t, a, tc.status, tc.code, tc.want)
			if strings.Contains(string(a.body), sentinel) {
				t.Fatalf("the answer echoes the secret: %s", a.body)
			}
		})
	}
	e.must(201, "POST", "/v1/secrets", e.admin, valid, nil)
	// The same key in sibling objects is no duplicate.
	siblings := `{"injection":{"type":"custom","fields":["k"],"headers":[{"name":"X-K","format":"{k}"},{"name":"X-J","format":"{k}"}]},"fields":{"k":"` + sentinel + `"},"policy":{"destinations":["a.example"]}}`
	e.must(201, "POST", "/v1/secrets", e.admin, siblings, nil)
	if strings.Contains(e.logs.String(), sentinel) {
		t.Fatal("the log holds the secret")
	}
}

// The secret is in no answer but the sidecar's resolution, and in no log
// line: a whole session through every endpoint that touches it.
func TestSecretOnlyInResolution(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		var answers []answer
		keep := func(a answer) answer { answers = append(answers, a); return a }
		var g, c wire.GrantInfo
		keep(e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret("billing", sentinel, "api.stripe.com"), &g))
		keep(e.must(201, "POST", "/v1/grants/"+g.ID+"/clone", e.admin, wire.Clone{TTL: "1h"}, &c))
		keep(e.must(200, "POST", "/v1/grants/"+g.ID+"/rotate", e.admin, map[string]any{"fields": map[string]string{"token": sentinel}}, nil))
		keep(e.call("POST", "/v1/grants/"+g.ID+"/rotate", e.admin, map[string]any{"fields": map[string]string{"token": sentinel + "\r\n"}}))
		keep(e.call("POST", "/v1/grants/"+g.ID+"/rotate", e.admin, map[string]any{"fields": map[string]string{"other": sentinel}}))
		keep(e.must(200, "GET", "/v1/grants", e.admin, nil, nil))
		keep(e.must(200, "GET", "/v1/grants/"+c.ID, e.admin, nil, nil))
		keep(e.must(200, "GET", "/v1/sidecar/policies", e.billing, nil, nil))
		keep(e.must(200, "GET", "/v1/sidecar/changes?after=0", e.billing, nil, nil))
		keep(e.call("GET", "/v1/sidecar/grants/"+g.ID, e.search, nil))
		for _, a := range answers {
			if strings.Contains(string(a.body), sentinel) {
				t.Fatalf("an answer holds the secret: %s", a.body)
			}
		}
		res := e.must(200, "GET", "/v1/sidecar/grants/"+c.ID, e.billing, nil, nil)
		if !strings.Contains(string(res.body), sentinel) {
			t.Fatal("the resolution lacks the secret")
		}
		if strings.Contains(e.logs.String(), sentinel) {
			t.Fatal("the log holds the secret")
		}
		if !strings.Contains(e.logs.String(), `"path":"/v1/sidecar/grants/`+c.ID+`"`) {
			t.Fatalf("no access log line for the resolution:\n%s", e.logs.String())
		}
	})
}
