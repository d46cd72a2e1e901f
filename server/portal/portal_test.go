package portal

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/server/storage"
)

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	h := newHarness(t, newFake(), false, nil)
	csrf := h.login()
	id := h.addBearer(csrf, sentinel)
	for _, tc := range []struct {
		name, path string
		noStore    bool
	}{
		{"grant list", "/grants", true},
		{"grant detail", "/grants/" + id, true},
		{"revoke confirmation", "/grants/" + id + "/revoke", true},
		{"add secret choice", "/secrets/new", true},
		{"add secret provider form", "/secrets/new?kind=provider:stripe", true},
		{"add secret custom form", "/secrets/new?kind=type:custom", true},
		{"audit", "/audit", true},
		{"audit with bad filter", "/audit?decision=maybe", true},
		{"unknown page", "/nope", true},
		{"unknown grant", "/grants/00000000-0000-4000-8000-000000000000", true},
		{"root redirect", "/", true},
		{"stylesheet", "/static/portal.css", false},
		{"script", "/static/copy.js", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := h.get(Prefix + tc.path)
			if got := resp.Header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
				t.Errorf("CSP = %q", got)
			}
			for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			if tc.noStore && resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", resp.Header.Get("Cache-Control"))
			}
		})
	}
	t.Run("login page", func(t *testing.T) {
		h := newHarness(t, newFake(), false, nil)
		resp, _ := h.get(Prefix + "/login")
		if resp.Header.Get("Content-Security-Policy") != contentSecurityPolicy || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("login page headers: %v", resp.Header)
		}
	})
}

func TestUnauthenticated(t *testing.T) {
	h := newHarness(t, newFake(), false, nil)
	for _, path := range []string{"/", "/grants", "/grants/x", "/grants/x/revoke", "/secrets/new", "/audit", "/approvals", "/approvals/x"} {
		t.Run("GET "+path, func(t *testing.T) {
			resp, _ := h.get(Prefix + path)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != Prefix+"/login" {
				t.Errorf("got %d to %q, want 303 to the login page", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
	for _, path := range []string{"/logout", "/secrets", "/grants/x/clone", "/grants/x/rotate", "/grants/x/revoke", "/approvals/x/decide"} {
		t.Run("POST "+path, func(t *testing.T) {
			resp, _ := h.post(Prefix+path, url.Values{"csrf": {"anything"}, "field_token": {sentinel}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("got %d, want 403", resp.StatusCode)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	fake := newFake()
	h := newHarness(t, fake, false, nil)
	csrf := h.login()
	id := h.addBearer(csrf, sentinel)
	forms := []struct {
		name, path string
		form       url.Values
	}{
		{"add secret", "/secrets", url.Values{"kind": {"type:bearer"}, "field_token": {sentinel + "2"}, "hosts": {"api.example.com"}}},
		{"clone", "/grants/" + id + "/clone", url.Values{"ttl": {"1h"}}},
		{"rotate", "/grants/" + id + "/rotate", url.Values{"field_token": {sentinel + "3"}}},
		{"revoke", "/grants/" + id + "/revoke", url.Values{}},
		{"logout", "/logout", url.Values{}},
	}
	for _, f := range forms {
		for _, tok := range []struct{ name, value string }{{"missing", ""}, {"wrong", flipFirst(csrf)}, {"other session's", newToken()}} {
			t.Run(f.name+" with "+tok.name+" token", func(t *testing.T) {
				form := url.Values{}
				for k, v := range f.form {
					form[k] = v
				}
				if tok.value != "" {
					form.Set("csrf", tok.value)
				}
				resp, _ := h.post(Prefix+f.path, form)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("got %d, want 403", resp.StatusCode)
				}
			})
		}
	}
	// Nothing changed: one grant, active, the original value, and the
	// session still works.
	gs, _ := fake.ListGrants(t.Context())
	if len(gs) != 1 || gs[0].Status != "active" || fake.secretOf(id)["token"] != sentinel {
		t.Errorf("a refused form changed something: %+v", gs)
	}
	if resp, _ := h.get(Prefix + "/grants"); resp.StatusCode != http.StatusOK {
		t.Errorf("session ended by a refused logout: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"cross-origin Origin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "null"}, http.StatusForbidden},
		{"same-site fetch", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"own form under no-referrer", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "null"}, http.StatusOK},
	} {
		t.Run(tc.name+" with the right token", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+Prefix+"/grants/"+id+"/clone", strings.NewReader(url.Values{"csrf": {csrf}, "ttl": {"bad"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, _ := h.do(req)
			if tc.want == http.StatusOK && resp.StatusCode == http.StatusForbidden || tc.want == http.StatusForbidden && resp.StatusCode != http.StatusForbidden {
				t.Errorf("got %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	t.Run("login with missing and wrong token", func(t *testing.T) {
		h := newHarness(t, newFake(), false, nil)
		h.get(Prefix + "/login") // sets the login cookie
		for _, v := range []string{"", "wrong"} {
			resp, _ := h.post(Prefix+"/login", url.Values{"csrf": {v}, "method": {"token"}, "token": {testToken}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("csrf %q: got %d, want 403", v, resp.StatusCode)
			}
		}
	})
}

func TestCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tls        bool
		secureFlag bool
		wantSecure bool
	}{
		{"plain http", false, false, false},
		{"tls", true, false, true},
		{"plain http behind a TLS proxy", false, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Secure cookies carry the __Host- prefix, so the browser binds
			// them to this host, Secure and Path=/ (no sibling subdomain or
			// plain-HTTP page can plant one under that name).
			prefix, path := "", Prefix
			if tc.wantSecure {
				prefix, path = hostPrefix, "/"
			}
			h := newHarness(t, newFake(), tc.tls, func(c *Config) { c.SecureCookies = tc.secureFlag })
			resp, body := h.get(Prefix + "/login")
			checkCookie(t, resp, prefix+cookieLogin, tc.wantSecure)
			resp, _ = h.post(Prefix+"/login", url.Values{"csrf": {h.csrfOf(body)}, "method": {"token"}, "token": {testToken}})
			c := checkCookie(t, resp, prefix+cookieSession, tc.wantSecure)
			if c != nil && (c.Path != path || c.Domain != "" || len(c.Value) < 43 || c.MaxAge != 0) {
				t.Errorf("session cookie %+v", c)
			}
			if c != nil {
				// The session works under its name.
				if resp, _ := h.get(Prefix + "/grants"); resp.StatusCode != http.StatusOK {
					t.Errorf("a page after login: %d", resp.StatusCode)
				}
			}
		})
	}
}

func checkCookie(t *testing.T, resp *http.Response, name string, secure bool) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name && c.MaxAge >= 0 {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != secure {
				t.Errorf("cookie %s: HttpOnly=%v SameSite=%v Secure=%v, want true, Strict, %v", name, c.HttpOnly, c.SameSite, c.Secure, secure)
			}
			return c
		}
	}
	t.Errorf("no %s cookie set", name)
	return nil
}

func TestSessionIsStoredAsDigest(t *testing.T) {
	store := NewMemorySessions(10)
	h := newHarness(t, newFake(), false, func(c *Config) { c.Sessions = store })
	h.login()
	u, _ := url.Parse(h.srv.URL + Prefix)
	var id string
	for _, c := range h.client.Jar.Cookies(u) {
		if c.Name == cookieSession {
			id = c.Value
		}
	}
	if _, err := store.Get(t.Context(), id); err == nil {
		t.Error("the raw session id is a key of the store")
	}
	if _, err := store.Get(t.Context(), digest(id)); err != nil {
		t.Errorf("the session is not stored under its digest: %v", err)
	}
}

func TestSessionExpiry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []time.Duration // time between requests
		alive bool
	}{
		{"used within the idle timeout", []time.Duration{20 * time.Minute, 20 * time.Minute, 20 * time.Minute}, true},
		{"idle too long", []time.Duration{31 * time.Minute}, false},
		{"past the absolute limit though busy", repeat(25*time.Minute, 29), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, newFake(), false, nil)
			h.login()
			var resp *http.Response
			for _, d := range tc.steps {
				h.advance(d)
				resp, _ = h.get(Prefix + "/grants")
			}
			if alive := resp.StatusCode == http.StatusOK; alive != tc.alive {
				t.Errorf("status %d, alive = %v, want %v", resp.StatusCode, alive, tc.alive)
			}
		})
	}
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}

func TestLogoutEndsTheSession(t *testing.T) {
	h := newHarness(t, newFake(), false, nil)
	csrf := h.login()
	u, _ := url.Parse(h.srv.URL + Prefix)
	old := h.client.Jar.Cookies(u)
	resp, _ := h.post(Prefix+"/logout", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	h.client.Jar.SetCookies(u, old) // a stolen copy of the cookie
	if resp, _ := h.get(Prefix + "/grants"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the old session id still works after logout: %d", resp.StatusCode)
	}
}

func TestLogin(t *testing.T) {
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want int
	}{
		{"admin token", url.Values{"method": {"token"}, "token": {testToken}}, http.StatusSeeOther},
		{"wrong token", url.Values{"method": {"token"}, "token": {"alt_a_nope"}}, http.StatusUnauthorized},
		{"empty token", url.Values{"method": {"token"}}, http.StatusUnauthorized},
		{"password", url.Values{"method": {"password"}, "username": {"alice"}, "password": {"correct horse battery"}}, http.StatusSeeOther},
		{"wrong password", url.Values{"method": {"password"}, "username": {"alice"}, "password": {"wrong horse battery"}}, http.StatusUnauthorized},
		{"unknown user", url.Values{"method": {"password"}, "username": {"bob"}, "password": {"correct horse battery"}}, http.StatusUnauthorized},
		{"no method", url.Values{"token": {testToken}}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			fake.users = Users{"alice": hash}
			h := newHarness(t, fake, false, nil)
			_, body := h.get(Prefix + "/login")
			tc.form.Set("csrf", h.csrfOf(body))
			resp, body := h.post(Prefix+"/login", tc.form)
			if resp.StatusCode != tc.want {
				t.Fatalf("got %d, want %d\n%s", resp.StatusCode, tc.want, body)
			}
			if strings.Contains(body, "correct horse") || strings.Contains(body, "wrong horse") || strings.Contains(body, "alt_a_nope") {
				t.Error("the login page echoed a password or token")
			}
			if tc.want == http.StatusUnauthorized && !strings.Contains(body, `aria-invalid="true"`) {
				t.Error("the error is not tied to a field")
			}
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	h := newHarness(t, newFake(), false, nil)
	_, body := h.get(Prefix + "/login")
	csrf := h.csrfOf(body)
	for i := range 10 {
		resp, body := h.post(Prefix+"/login", url.Values{"csrf": {csrf}, "method": {"token"}, "token": {"alt_a_guess"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
		csrf = h.csrfOf(body)
	}
	resp, _ := h.post(Prefix+"/login", url.Values{"csrf": {csrf}, "method": {"token"}, "token": {testToken}})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("11th attempt within a minute: %d, want 429 even with the right token", resp.StatusCode)
	}
	h.advance(61 * time.Second)
	_, body = h.get(Prefix + "/login")
	resp, _ = h.post(Prefix+"/login", url.Values{"csrf": {h.csrfOf(body)}, "method": {"token"}, "token": {testToken}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after the window: %d, want 303", resp.StatusCode)
	}
}

// TestSecretNeverShown submits the sentinel in every form that takes a
// secret, on success and on every kind of error, and checks it never
// comes back (the harness checks every body, header and log line).
func TestSecretNeverShown(t *testing.T) {
	for _, tc := range []struct {
		name  string
		form  url.Values
		quote bool // the backend quotes the values in its error
		want  int
	}{
		{"stored", url.Values{"kind": {"type:bearer"}, "field_token": {sentinel}, "hosts": {"api.example.com"}}, false, http.StatusSeeOther},
		{"no host", url.Values{"kind": {"type:bearer"}, "field_token": {sentinel}}, false, http.StatusBadRequest},
		{"bad host", url.Values{"kind": {"type:bearer"}, "field_token": {sentinel}, "hosts": {"https://a b"}}, false, http.StatusBadRequest},
		{"value with a newline", url.Values{"kind": {"type:bearer"}, "field_token": {sentinel + "\nX: y"}, "hosts": {"api.example.com"}}, false, http.StatusBadRequest},
		{"provider missing param", url.Values{"kind": {"provider:datadog"}, "field_api_key": {sentinel}, "field_app_key": {sentinel}}, false, http.StatusBadRequest},
		{"provider stored", url.Values{"kind": {"provider:stripe"}, "field_token": {sentinel}}, false, http.StatusSeeOther},
		{"custom rules", url.Values{"kind": {"type:custom"}, "custom_name_1": {"key"}, "custom_value_1": {sentinel}, "headers": {"X-Key: {key}"}, "hosts": {"api.example.com"}}, false, http.StatusSeeOther},
		{"custom bad rule", url.Values{"kind": {"type:custom"}, "custom_name_1": {"key"}, "custom_value_1": {sentinel}, "headers": {"no colon"}, "hosts": {"api.example.com"}}, false, http.StatusBadRequest},
		{"backend quotes the value", url.Values{"kind": {"type:bearer"}, "field_token": {sentinel}, "hosts": {"api.example.com"}}, true, http.StatusBadRequest},
		{"expiry in the past", url.Values{"kind": {"type:bearer"}, "field_token": {sentinel}, "hosts": {"api.example.com"}, "expires": {"2001-01-01T00:00"}}, false, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			fake.quoteValues = tc.quote
			h := newHarness(t, fake, false, nil)
			csrf := h.login()
			tc.form.Set("csrf", csrf)
			tc.form.Set("name", "n")
			resp, body := h.post(Prefix+"/secrets", tc.form)
			if resp.StatusCode != tc.want {
				t.Fatalf("got %d, want %d\n%s", resp.StatusCode, tc.want, body)
			}
			if tc.want == http.StatusBadRequest && !strings.Contains(body, "error-text") && !strings.Contains(body, "error-summary") {
				t.Errorf("no error message shown:\n%s", body)
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				h.get(strings.TrimPrefix(loc, h.srv.URL))
			}
			h.get(Prefix + "/grants")
		})
	}
	t.Run("rotate", func(t *testing.T) {
		fake := newFake()
		h := newHarness(t, fake, false, nil)
		csrf := h.login()
		id := h.addBearer(csrf, "first-value-123")
		resp, _ := h.post(Prefix+"/grants/"+id+"/rotate", url.Values{"csrf": {csrf}, "field_token": {sentinel}})
		if resp.StatusCode != http.StatusSeeOther || fake.secretOf(id)["token"] != sentinel {
			t.Fatalf("rotate: %d", resp.StatusCode)
		}
		h.get(Prefix + "/grants/" + id + "?rotated=1")
		fake.quoteValues = true
		resp, body := h.post(Prefix+"/grants/"+id+"/rotate", url.Values{"csrf": {csrf}, "field_token": {sentinel}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "[redacted]") {
			t.Errorf("rotate with a quoting backend: %d", resp.StatusCode)
		}
	})
}

func TestPasswordInputsAreNeverFilled(t *testing.T) {
	h := newHarness(t, newFake(), false, nil)
	csrf := h.login()
	_, body := h.post(Prefix+"/secrets", url.Values{"csrf": {csrf}, "kind": {"type:basic"}, "field_username": {"u-sentinel-user"},
		"field_password": {sentinel}, "hosts": {"bad host name"}, "name": {"kept-name"}})
	if !strings.Contains(body, `value="kept-name"`) {
		t.Error("a non-secret field was not filled back")
	}
	if strings.Contains(body, "u-sentinel-user") {
		t.Error("a secret field was filled back")
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, `type="password"`) && strings.Contains(line, "value=") {
			t.Errorf("a password input has a value: %s", line)
		}
	}
}

func TestFlow(t *testing.T) {
	fake := newFake()
	h := newHarness(t, fake, false, nil)
	csrf := h.login()
	id := h.addBearer(csrf, sentinel)
	_, body := h.get(Prefix + "/grants/" + id + "?created=1")
	if !strings.Contains(body, id) || !strings.Contains(body, "Secret stored") {
		t.Fatalf("detail page lacks the grant id or the notice")
	}
	resp, body := h.post(Prefix+"/grants/"+id+"/clone", url.Values{"csrf": {csrf}, "ttl": {"soon"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="e-ttl"`) {
		t.Errorf("bad TTL: %d, error not next to the field", resp.StatusCode)
	}
	resp, _ = h.post(Prefix+"/grants/"+id+"/clone", url.Values{"csrf": {csrf}, "ttl": {"2h"}, "name": {"short"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("clone: %d", resp.StatusCode)
	}
	_, body = h.get(Prefix + "/grants")
	if strings.Count(body, `class="copy"`) != 2 || !strings.Contains(body, ">1</td>") {
		t.Errorf("list should show two grants with copy buttons and one clone count")
	}
	_, body = h.get(Prefix + "/grants/" + id + "/revoke")
	if !strings.Contains(body, "1 clone will be revoked") && !strings.Contains(body, "Its 1 clone") {
		t.Errorf("confirmation does not mention the clone:\n%s", body)
	}
	resp, _ = h.post(Prefix+"/grants/"+id+"/revoke", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	g, _ := fake.GetGrant(t.Context(), id)
	if !g.Revoked {
		t.Error("not revoked")
	}
	fake.audit = append(fake.audit, storage.AuditRecord{ID: "a1", Source: "billing/sc1", Time: time.Now(), GrantID: id, Actor: "svc",
		Decision: "allow", Body: json.RawMessage(`{"method":"GET","host":"api.example.com","path":"/v1/x","status":200}`)})
	_, body = h.get(Prefix + "/audit?grant=" + id + "&decision=allow")
	if !strings.Contains(body, "api.example.com/v1/x") || !strings.Contains(body, "billing/sc1") {
		t.Errorf("audit page lacks the record")
	}
	resp, body = h.get(Prefix + "/audit?since=yesterday")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="e-since"`) {
		t.Errorf("bad filter: %d", resp.StatusCode)
	}
}

func TestBackendErrorNextToItsField(t *testing.T) {
	for _, tc := range []struct{ msg, field string }{
		{"invalid request: app may not contain '/' or spaces", "app"},
		{"invalid request: labels[2] is empty", "labels"},
		{"invalid request: name is 300 characters, at most 256", "name"},
		{"invalid request: expiry 2030-01-01T00:00:00Z is after the parent grant's expiry", "expires"},
		{"invalid request: something else", ""},
	} {
		if got := fieldFor(tc.msg); got != tc.field {
			t.Errorf("%q: field %q, want %q", tc.msg, got, tc.field)
		}
	}
}

// flipFirst returns tok with its first character changed: a token that
// differs from tok in one place, whatever tok is.
func flipFirst(tok string) string {
	if tok[0] == 'x' {
		return "y" + tok[1:]
	}
	return "x" + tok[1:]
}
