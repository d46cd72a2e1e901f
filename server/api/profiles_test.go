package api

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/server/wire"
)

func digestHex(token string) string {
	d := profile.DigestOf(token)
	return hex.EncodeToString(d[:])
}

// addGrant stores a bearer secret of app reaching hosts; its grant's id.
func (e *env) addGrant(app string, hosts ...string) string {
	e.t.Helper()
	var g struct {
		ID string `json:"id"`
	}
	e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret(app, sentinel, hosts...), &g)
	return g.ID
}

func TestProfileEndpoints(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		gh, sqs := e.addGrant("billing", "api.github.com"), e.addGrant("billing", "sqs.us-east-1.amazonaws.com")
		other := e.addGrant("search", "api.search.test")

		var created wire.ProfileToken
		e.must(201, "POST", "/v1/profiles", e.admin, wire.NewProfile{App: "billing", Name: "ci", Grants: []string{gh, sqs}, DenyUnmatched: true}, &created)
		if created.Profile == nil || created.Profile.App != "billing" || created.Profile.Name != "ci" || !profile.LooksLikeToken(created.Token) {
			t.Fatalf("create answered %+v", created.Profile)
		}
		tok := created.Token
		var otherTok wire.ProfileToken
		e.must(201, "POST", "/v1/profiles", e.admin, wire.NewProfile{App: "search", Name: "other", Grants: []string{other}}, &otherTok)

		// Listing, showing: never the token or its digest.
		var list wire.Profiles
		a := e.must(200, "GET", "/v1/profiles?app=billing", e.admin, nil, &list)
		if len(list.Profiles) != 1 || list.Profiles[0].Name != "ci" || len(list.Profiles[0].Members) != 2 {
			t.Fatalf("list %+v", list)
		}
		var shown wire.ProfileInfo
		b := e.must(200, "GET", "/v1/profiles/ci", e.admin, nil, &shown)
		for _, body := range [][]byte{a.body, b.body} {
			if bytes.Contains(body, []byte(tok[len(profile.TokenPrefix):])) || bytes.Contains(body, []byte(digestHex(tok))) {
				t.Fatalf("a listing shows the token or its digest: %s", body)
			}
		}

		// A sidecar resolves by digest and by name, within its app.
		var bind wire.ProfileBinding
		e.must(200, "POST", "/v1/sidecar/profiles/resolve", e.billing, wire.ProfileLookup{TokenSHA256: digestHex(tok)}, &bind)
		if bind.Name != "ci" || !bind.DenyUnmatched || len(bind.Members) != 2 || bind.Members[0].GrantID != gh ||
			bind.Members[0].Destinations[0] != "https://api.github.com:443" {
			t.Fatalf("binding %+v", bind)
		}
		e.must(200, "POST", "/v1/sidecar/profiles/resolve", e.billing, wire.ProfileLookup{Name: "ci"}, &bind)

		// Refusals a sidecar gets are one answer, byte for byte.
		var first []byte
		for name, tc := range map[string]struct {
			token string
			body  wire.ProfileLookup
		}{
			"unknown digest":         {e.billing, wire.ProfileLookup{TokenSHA256: strings.Repeat("ab", 32)}},
			"unknown name":           {e.billing, wire.ProfileLookup{Name: "nope"}},
			"other app's profile":    {e.billing, wire.ProfileLookup{Name: "other"}},
			"other app's token":      {e.billing, wire.ProfileLookup{TokenSHA256: digestHex(otherTok.Token)}},
			"token of another app's": {e.search, wire.ProfileLookup{TokenSHA256: digestHex(tok)}},
		} {
			a := e.call("POST", "/v1/sidecar/profiles/resolve", tc.token, tc.body)
			if a.status != 403 || a.code() != wire.CodeGrantUnavailable {
				t.Errorf("%s: %d %s", name, a.status, a.body)
			}
			if first == nil {
				first = a.body
			} else if !bytes.Equal(first, a.body) {
				t.Errorf("%s: answer %s differs from %s", name, a.body, first)
			}
		}
		for name, body := range map[string]any{
			"neither":        wire.ProfileLookup{},
			"both":           wire.ProfileLookup{Name: "ci", TokenSHA256: digestHex(tok)},
			"the token sent": map[string]string{"token": tok},
			"bad digest":     wire.ProfileLookup{TokenSHA256: "xyz"},
		} {
			if a := e.call("POST", "/v1/sidecar/profiles/resolve", e.billing, body); a.status != 400 || a.code() != wire.CodeInvalid ||
				bytes.Contains(a.body, []byte(tok)) {
				t.Errorf("%s: %d %s, want 400 invalid_request", name, a.status, a.body)
			}
		}
		if a := e.call("POST", "/v1/sidecar/profiles/resolve", e.admin, wire.ProfileLookup{Name: "ci"}); a.status != 403 || a.code() != wire.CodeForbidden {
			t.Errorf("admin token on the sidecar endpoint: %d", a.status)
		}
		if a := e.call("GET", "/v1/profiles", e.billing, nil); a.status != 403 || a.code() != wire.CodeForbidden {
			t.Errorf("sidecar token on an admin endpoint: %d", a.status)
		}

		// Admin refusals name what is wrong.
		for name, tc := range map[string]struct {
			method, path string
			body         any
			status       int
			saying       string
		}{
			"overlap":             {"POST", "/v1/profiles", wire.NewProfile{App: "billing", Name: "p", Grants: []string{gh, e.addGrant("billing", "*.github.com")}}, 400, "overlaps"},
			"other app's grant":   {"POST", "/v1/profiles", wire.NewProfile{App: "billing", Name: "p", Grants: []string{other}}, 400, "not of app"},
			"unknown field":       {"POST", "/v1/profiles", `{"app":"billing","name":"p","grants":[],"token":"x"}`, 400, "token"},
			"unknown profile":     {"GET", "/v1/profiles/nope", nil, 404, "profile nope"},
			"nothing to change":   {"PATCH", "/v1/profiles/ci", `{}`, 400, "nothing to change"},
			"empty grants":        {"PATCH", "/v1/profiles/ci", `{"grants":[]}`, 400, "at least one grant"},
			"rotate unknown":      {"POST", "/v1/profiles/nope/rotate-token", nil, 404, "profile nope"},
			"policy into a clash": {"PUT", "/v1/grants/" + sqs + "/policy", map[string]any{"destinations": []string{"sqs.us-east-1.amazonaws.com", "api.github.com"}}, 400, "profile ci"},
		} {
			a := e.call(tc.method, tc.path, e.admin, tc.body)
			if a.status != tc.status || !strings.Contains(string(a.body), tc.saying) {
				t.Errorf("%s: %d %s; want %d saying %q", name, a.status, a.body, tc.status, tc.saying)
			}
		}

		// Changes reach the app's change stream, and only its.
		var before wire.Changes
		e.must(200, "GET", "/v1/sidecar/changes", e.billing, nil, &before)
		var searchBefore wire.Changes
		e.must(200, "GET", "/v1/sidecar/changes", e.search, nil, &searchBefore)
		var updated wire.ProfileInfo
		e.must(200, "PATCH", "/v1/profiles/ci", e.admin, map[string]any{"deny_unmatched": false}, &updated)
		if updated.DenyUnmatched || len(updated.Grants) != 2 {
			t.Fatalf("update answered %+v", updated)
		}
		var rotated wire.ProfileToken
		e.must(200, "POST", "/v1/profiles/ci/rotate-token", e.admin, nil, &rotated)
		if !profile.LooksLikeToken(rotated.Token) || rotated.Token == tok || rotated.Profile != nil {
			t.Fatal("rotate-token did not answer with a new token alone")
		}
		if a := e.call("POST", "/v1/sidecar/profiles/resolve", e.billing, wire.ProfileLookup{TokenSHA256: digestHex(tok)}); a.status != 403 {
			t.Fatalf("the old token after rotation: %d", a.status)
		}
		e.must(200, "POST", "/v1/sidecar/profiles/resolve", e.billing, wire.ProfileLookup{TokenSHA256: digestHex(rotated.Token)}, nil)
		var revoked wire.ProfileInfo
		e.must(200, "POST", "/v1/profiles/ci/revoke", e.admin, nil, &revoked)
		if revoked.Status != "revoked" {
			t.Fatalf("revoke answered status %q", revoked.Status)
		}
		if a := e.call("POST", "/v1/sidecar/profiles/resolve", e.billing, wire.ProfileLookup{Name: "ci"}); a.status != 403 || !bytes.Equal(a.body, first) {
			t.Fatalf("a revoked profile: %d %s", a.status, a.body)
		}
		var ch wire.Changes
		e.must(200, "GET", "/v1/sidecar/changes?wait=0s&after="+strconv.FormatInt(before.Seq, 10), e.billing, nil, &ch)
		if len(ch.Changes) != 3 {
			t.Fatalf("%d changes after update, rotate and revoke: %+v", len(ch.Changes), ch.Changes)
		}
		for _, c := range ch.Changes {
			if c.Kind != wire.ChangeProfile || c.Profile != "ci" || c.GrantID != "" {
				t.Fatalf("change %+v", c)
			}
		}
		e.must(200, "GET", "/v1/sidecar/changes?wait=0s&after="+strconv.FormatInt(searchBefore.Seq, 10), e.search, nil, &ch)
		if len(ch.Changes) != 0 || ch.Seq != searchBefore.Seq {
			t.Fatalf("another app heard of the profile: %+v", ch)
		}
		for _, s := range []string{tok, rotated.Token, otherTok.Token, tok[len(profile.TokenPrefix):]} {
			if strings.Contains(e.logs.String(), s) {
				t.Fatal("a profile token is in the server's log")
			}
		}
	})
}
