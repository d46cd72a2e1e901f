package api

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/approval"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/server/wire"
)

// Attacks on the sidecar and admin endpoints of approvals, profiles and
// use leases: what one app's sidecar token can learn or do with another
// app's objects, and what malformed input gets.

var attackT0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// heldReq is a request a sidecar holds for approval on grant.
func heldReq(grant, actor string) approval.Request {
	return approval.Request{GrantID: grant, Actor: actor, Method: "POST", Scheme: "https", Host: "api.stripe.com", Port: 443,
		Path: "/v1/refunds", RequestID: "req-1", Match: approval.MatchKey(grant, "POST", "https://api.stripe.com/v1/refunds", nil)}
}

// createApproval makes a pending approval through the sidecar API.
func (e *env) createApproval(token string, req approval.Request) approval.Approval {
	e.t.Helper()
	var a approval.Approval
	e.must(201, "POST", "/v1/sidecar/approvals", token, wire.ApprovalCreate{Request: req, Now: attackT0, TTL: "1h"}, &a)
	return a
}

// limitedGrant stores a grant of app with policy limits.
func (e *env) limitedGrant(app, rate string, perActor bool) string {
	e.t.Helper()
	s := bearerSecret(app, sentinel, "api.stripe.com")
	s["policy"] = policy.Spec{Destinations: []string{"api.stripe.com"}, Rate: rate, PerActor: perActor}
	var g struct {
		ID string `json:"id"`
	}
	e.must(201, "POST", "/v1/secrets", e.admin, s, &g)
	return g.ID
}

// sameAnswer fails unless two answers are one: status, code and body.
func sameAnswer(t *testing.T, what string, a, b answer) {
	t.Helper()
	if a.status != b.status || a.code() != b.code() || !bytes.Equal(a.body, b.body) {
		t.Errorf("%s: another app's object answers %d %s, an unknown one %d %s", what, a.status, a.body, b.status, b.body)
	}
}

// TestCrossAppIsUnknown: billing's sidecar token gets, for each of
// search's grants, approvals and profiles, exactly the answer it gets for
// one that does not exist, and can change none of them.
func TestCrossAppIsUnknown(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		theirs := e.limitedGrant("search", "5/m", false)
		e.addGrant("billing", "api.stripe.com")
		var pt wire.ProfileToken
		e.must(201, "POST", "/v1/profiles", e.admin, wire.NewProfile{App: "search", Name: "theirs", Grants: []string{theirs}}, &pt)
		ap := e.createApproval(e.search, heldReq(theirs, "agent"))
		unknownGrant, unknownID := "00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001"

		pairs := []struct {
			name                string
			method, path        string
			theirs, unknownBody any
			theirsPath          string
		}{
			{"uses", "POST", "/v1/sidecar/uses", wire.UsesRequest{GrantID: theirs, Want: 1}, wire.UsesRequest{GrantID: unknownGrant, Want: 1}, ""},
			{"profile by digest", "POST", "/v1/sidecar/profiles/resolve", wire.ProfileLookup{TokenSHA256: digestHex(pt.Token)},
				wire.ProfileLookup{TokenSHA256: digestHex("alt_p_unknown")}, ""},
			{"profile by name", "POST", "/v1/sidecar/profiles/resolve", wire.ProfileLookup{Name: "theirs"}, wire.ProfileLookup{Name: "nosuch"}, ""},
			{"approval create", "POST", "/v1/sidecar/approvals", wire.ApprovalCreate{Request: heldReq(theirs, "agent"), Now: attackT0, TTL: "1h"},
				wire.ApprovalCreate{Request: heldReq(unknownGrant, "agent"), Now: attackT0, TTL: "1h"}, ""},
			{"approval find", "POST", "/v1/sidecar/find-approval", wire.ApprovalFind{Request: heldReq(theirs, "agent"), Now: attackT0},
				wire.ApprovalFind{Request: heldReq(unknownGrant, "agent"), Now: attackT0}, ""},
			{"approval get", "GET", "/v1/sidecar/approvals/", nil, nil, ap.ID},
			{"approval use", "POST", "/v1/sidecar/approvals/", wire.ApprovalUse{RequestID: "r", Now: attackT0}, wire.ApprovalUse{RequestID: "r", Now: attackT0}, ap.ID + "/use"},
			{"approval wait", "GET", "/v1/sidecar/approvals/", nil, nil, ap.ID + "/wait?wait=0s"},
			{"approval wait parked", "GET", "/v1/sidecar/approvals/", nil, nil, ap.ID + "/wait?wait=50ms"},
			{"approval list", "GET", "/v1/sidecar/approvals?now=2026-12-07T10:00:00Z&grant=", nil, nil, theirs},
		}
		for _, p := range pairs {
			t.Run(p.name, func(t *testing.T) {
				theirsPath, unknownPath := p.path, p.path
				if p.theirsPath != "" {
					theirsPath += p.theirsPath
					unknownPath += strings.Replace(p.theirsPath, ap.ID, unknownID, 1)
					unknownPath = strings.Replace(unknownPath, theirs, unknownGrant, 1)
				}
				a := e.call(p.method, theirsPath, e.billing, p.theirs)
				b := e.call(p.method, unknownPath, e.billing, p.unknownBody)
				if a.status < 400 && p.name != "approval find" && p.name != "approval list" {
					t.Fatalf("billing's token on search's object: %d %s", a.status, a.body)
				}
				sameAnswer(t, p.name, a, b)
				if bytes.Contains(a.body, []byte(theirs)) || bytes.Contains(a.body, []byte(ap.ID)) || bytes.Contains(a.body, []byte("search")) {
					t.Errorf("the answer names search's object: %s", a.body)
				}
			})
		}
		// Nothing of search's changed: its approval is still pending and
		// unused, its grant's rate untouched.
		var got approval.Approval
		e.must(200, "GET", "/v1/sidecar/approvals/"+ap.ID, e.search, nil, &got)
		if got.Status != approval.StatusPending {
			t.Errorf("search's approval after billing's attempts: %s", got.Status)
		}
		var l wire.UsesLease
		e.must(200, "POST", "/v1/sidecar/uses", e.search, wire.UsesRequest{GrantID: theirs, Want: 5}, &l)
		if l.Granted != 5 {
			t.Errorf("search's rate after billing's attempts: %+v", l)
		}
	})
}

// TestApprovalWaitErrors: a wait that ends at once (wait=0) or times out
// still answers an unknown approval with not_found and a broken one with
// store_unavailable: never 200 with an empty approval, which a client
// reads as "no longer pending".
func TestApprovalWaitErrors(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		g := e.addGrant("billing", "api.stripe.com")
		tampered := e.createApproval(e.billing, heldReq(g, "agent"))
		raw := testdb.Raw(t, addr)
		q := `UPDATE approvals SET status = 'approved' WHERE id = ` + map[bool]string{true: "$1", false: "?"}[strings.HasPrefix(addr, "postgres")]
		if _, err := raw.Exec(q, tampered.ID); err != nil {
			t.Fatal(err)
		}
		for _, wait := range []string{"0s", "1ms"} {
			checkError(t, e.call("GET", "/v1/sidecar/approvals/00000000-0000-4000-8000-000000000001/wait?wait="+wait, e.billing, nil), 404, wire.CodeNotFound, "")
			checkError(t, e.call("GET", "/v1/sidecar/approvals/"+tampered.ID+"/wait?wait="+wait, e.billing, nil), 503, wire.CodeStoreUnavailable, "")
		}
		pending := e.createApproval(e.billing, heldReq(g, "other"))
		var got approval.Approval
		e.must(200, "GET", "/v1/sidecar/approvals/"+pending.ID+"/wait?wait=0s", e.billing, nil, &got)
		if got.ID != pending.ID || got.Status != approval.StatusPending {
			t.Fatalf("wait=0 on a pending approval: %+v", got)
		}
		for _, bad := range []string{"-1s", "abc", "25", "1e9h"} {
			checkError(t, e.call("GET", "/v1/sidecar/approvals/"+pending.ID+"/wait?wait="+bad, e.billing, nil), 400, wire.CodeInvalid, "wait")
		}
	})
}

// TestApprovalDecideBoundaries: only admin tokens decide; the decider is
// the token's name, matched against the request's client in any case;
// of two concurrent decisions on two replicas exactly one wins.
func TestApprovalDecideBoundaries(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		clock := func(o *Options) { o.Now = func() time.Time { return attackT0 } }
		e := newEnv(t, addr, clock)
		other := newEnv(t, addr, clock) // a second replica on the same database, its own tokens
		g := e.addGrant("billing", "api.stripe.com")
		for _, actor := range []string{"ops", "OPS", "Ops"} {
			ap := e.createApproval(e.billing, heldReq(g, actor))
			checkError(t, e.call("POST", "/v1/approvals/"+ap.ID+"/decide", e.admin, wire.ApprovalDecide{Decision: "approve"}), 403, wire.CodeSelfApproval, "")
		}
		ap := e.createApproval(e.billing, heldReq(g, "agent"))
		checkError(t, e.call("POST", "/v1/approvals/"+ap.ID+"/decide", e.billing, wire.ApprovalDecide{Decision: "approve"}), 403, wire.CodeForbidden, "")
		checkError(t, e.call("POST", "/v1/sidecar/approvals", e.admin, wire.ApprovalCreate{Request: heldReq(g, "x"), Now: attackT0, TTL: "1h"}), 403, wire.CodeForbidden, "")
		for name, body := range map[string]string{
			"for negative":   `{"decision":"approve","for":"-1m"}`,
			"for huge":       `{"decision":"approve","for":"9999999h"}`,
			"note 1 MiB":     `{"decision":"deny","note":"` + strings.Repeat("n", 1<<20) + `"}`,
			"unknown field":  `{"decision":"approve","by":"alice"}`,
			"duplicate key":  `{"decision":"deny","Decision":"approve"}`,
			"path traversal": ``,
		} {
			path := "/v1/approvals/" + ap.ID + "/decide"
			if name == "path traversal" {
				path, body = "/v1/approvals/..%2f..%2fgrants/decide", `{"decision":"approve"}`
			}
			if a := e.call("POST", path, e.admin, body); a.status < 400 {
				t.Errorf("%s: %d %s", name, a.status, a.body)
			}
		}
		var wg sync.WaitGroup
		answers := make([]answer, 2)
		for i, r := range []*env{e, other} {
			wg.Go(func() {
				answers[i] = r.call("POST", "/v1/approvals/"+ap.ID+"/decide", r.admin, wire.ApprovalDecide{Decision: []string{"approve", "deny"}[i]})
			})
		}
		wg.Wait()
		won := 0
		for _, a := range answers {
			switch {
			case a.status == 200:
				won++
			case a.code() != wire.CodeApprovalDecided:
				t.Errorf("the losing decision: %d %s", a.status, a.body)
			}
		}
		if won != 1 {
			t.Fatalf("%d of two concurrent decisions won", won)
		}
	})
}

// TestUsesInputAndLimits: /uses refuses malformed leases, and no mix of
// actors, concurrency or clones gets more than a limit allows.
func TestUsesInputAndLimits(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		replica := newEnv(t, addr)
		g := e.limitedGrant("billing", "10/m", false)
		for name, body := range map[string]string{
			"want 0":          `{"grant_id":"` + g + `","want":0}`,
			"want -1":         `{"grant_id":"` + g + `","want":-1}`,
			"want 1001":       `{"grant_id":"` + g + `","want":1001}`,
			"want huge":       `{"grant_id":"` + g + `","want":1e30}`,
			"want fraction":   `{"grant_id":"` + g + `","want":1.5}`,
			"actor 257 bytes": `{"grant_id":"` + g + `","want":1,"actor":"` + strings.Repeat("a", 257) + `"}`,
			"not a uuid":      `{"grant_id":"../../grants","want":1}`,
			"uuid braces":     `{"grant_id":"{` + g + `}","want":1}`,
			"unknown field":   `{"grant_id":"` + g + `","want":1,"app":"search"}`,
			"duplicate key":   `{"grant_id":"` + g + `","want":1,"WANT":1000}`,
			"trailing data":   `{"grant_id":"` + g + `","want":1}{}`,
		} {
			if a := e.call("POST", "/v1/sidecar/uses", e.billing, body); a.status != 400 || a.code() != wire.CodeInvalid {
				t.Errorf("%s: %d %s", name, a.status, a.body)
			}
		}
		var mu sync.Mutex
		total := 0
		var wg sync.WaitGroup
		for i := range 12 {
			r := []*env{e, replica}[i%2]
			wg.Go(func() {
				var l wire.UsesLease
				r.must(200, "POST", "/v1/sidecar/uses", r.billing, wire.UsesRequest{GrantID: g, Want: 3, Actor: strings.Repeat("x", i+1)}, &l)
				mu.Lock()
				total += l.Granted
				mu.Unlock()
			})
		}
		wg.Wait()
		if total != 10 {
			t.Fatalf("varied actors on two replicas got %d uses of a 10/m limit", total)
		}
		var clone wire.GrantInfo
		e.must(201, "POST", "/v1/grants/"+g+"/clone", e.admin, map[string]any{"name": "c"}, &clone)
		var l wire.UsesLease
		e.must(200, "POST", "/v1/sidecar/uses", e.billing, wire.UsesRequest{GrantID: clone.ID, Want: 1}, &l)
		if l.Granted != 0 || l.LimitGrantID != g || l.Limit != "10/m" || l.RetryAfterMS <= 0 {
			t.Fatalf("a clone of a spent grant: %+v", l)
		}
		// The refusal names only the billing grant that refused: nothing
		// of the token or the secret.
		a := e.call("POST", "/v1/sidecar/uses", e.billing, wire.UsesRequest{GrantID: g, Want: 1})
		if bytes.Contains(a.body, []byte(sentinel)) || bytes.Contains(a.body, []byte(e.billing)) {
			t.Fatalf("lease answer leaks: %s", a.body)
		}
	})
}

// TestNoSecretsInLogs: none of the attacks above puts a token, a profile
// token's digest or a secret in the server's access log.
func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t, testdb.SQLite(t))
	g := e.addGrant("billing", "api.stripe.com")
	var pt wire.ProfileToken
	e.must(201, "POST", "/v1/profiles", e.admin, wire.NewProfile{App: "billing", Name: "ci", Grants: []string{g}}, &pt)
	e.call("POST", "/v1/sidecar/profiles/resolve", e.search, wire.ProfileLookup{TokenSHA256: digestHex(pt.Token)})
	e.call("POST", "/v1/sidecar/profiles/resolve", e.billing, wire.ProfileLookup{TokenSHA256: digestHex(pt.Token)})
	e.call("POST", "/v1/sidecar/profiles/resolve", e.billing, `{"token_sha256":"`+pt.Token+`"}`)
	e.call("POST", "/v1/sidecar/uses", e.billing, `{"grant_id":"`+pt.Token+`","want":1}`)
	e.call("GET", "/v1/sidecar/approvals?now="+pt.Token, e.billing, nil)
	logs := e.logs.String()
	for name, s := range map[string]string{"profile token": pt.Token[len("alt_p_"):], "digest": digestHex(pt.Token),
		"sidecar token": e.billing[len("alt_s_"):], "admin token": e.admin[len("alt_a_"):], "secret": sentinel} {
		if strings.Contains(logs, s) {
			t.Errorf("the access log holds the %s", name)
		}
	}
	var lines int
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			lines++
		}
	}
	if lines == 0 {
		t.Fatal("no log lines: the test looked at nothing")
	}
}
