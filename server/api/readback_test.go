package api

import (
	"encoding/json"
	"testing"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// TestReadBackAudited: an admin token can mint a sidecar token and resolve
// a grant with it to read the secret: both steps are in the audit trail,
// with the token ids, the app, the grant and the time, and so is a refused
// resolve. (Nothing of it was recorded.)
func TestReadBackAudited(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr)
		id, other := e.addSecret("billing"), e.addSecret("search")
		var admin struct {
			Tokens []wire.Token `json:"tokens"`
		}
		e.must(200, "GET", "/v1/tokens", e.admin, nil, &admin)
		adminName := admin.Tokens[0].Name
		var tok wire.Token
		e.must(201, "POST", "/v1/tokens", e.admin, wire.NewToken{Kind: "sidecar", Name: "readback", App: "billing"}, &tok)
		e.must(200, "GET", "/v1/sidecar/grants/"+id, tok.Secret, nil, nil)
		checkError(t, e.call("GET", "/v1/sidecar/grants/"+other, tok.Secret, nil), 403, wire.CodeGrantUnavailable, "")

		type body struct {
			Event, Actor, Decision, App, Error string
			ActorID                            string `json:"actor_id"`
			TokenID                            string `json:"token_id"`
			GrantID                            string `json:"grant_id"`
			Kind, Name                         string
		}
		records := func(query string) []body {
			var page struct {
				Records []struct {
					Source string
					Body   json.RawMessage
				} `json:"records"`
			}
			e.must(200, "GET", "/v1/audit?"+query, e.admin, nil, &page)
			var out []body
			for _, r := range page.Records {
				if r.Source != storage.ServerSource {
					continue
				}
				var b body
				if err := json.Unmarshal(r.Body, &b); err != nil {
					t.Fatal(err)
				}
				out = append(out, b)
			}
			return out
		}
		got := records("event=resolve&grant=" + id)
		if len(got) != 1 || got[0].Event != storage.EventResolve || got[0].TokenID != tok.ID || got[0].App != "billing" ||
			got[0].Decision != "allow" || got[0].Actor != "token:"+tok.Name || got[0].ActorID != "token:"+tok.ID {
			t.Errorf("the resolve's record: %+v", got)
		}
		got = records("event=resolve&grant=" + other)
		if len(got) != 1 || got[0].Decision != "deny" || got[0].Error != wire.CodeGrantUnavailable || got[0].TokenID != tok.ID {
			t.Errorf("the refused resolve's record: %+v", got)
		}
		got = records("actor=token:" + adminName)
		found := false
		for _, b := range got {
			found = found || (b.Event == storage.EventTokenCreate && b.TokenID == tok.ID && b.App == "billing" && b.Kind == "sidecar" && b.Name == "readback")
		}
		if !found {
			t.Errorf("no record of the admin token creating the sidecar token: %+v", got)
		}
		e.must(200, "POST", "/v1/tokens/"+tok.ID+"/revoke", e.admin, nil, nil)
		found = false
		for _, b := range records("actor=token:" + adminName) {
			found = found || (b.Event == storage.EventTokenRevoke && b.TokenID == tok.ID)
		}
		if !found {
			t.Error("no record of the revocation")
		}
	})
}
