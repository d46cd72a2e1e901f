package api

import (
	"context"
	"testing"

	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// TestSidecarApproval: with tokens.sidecar_approval, a sidecar token one
// admin creates resolves nothing until a second admin token approves it;
// the first cannot approve its own.
func TestSidecarApproval(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		e := newEnv(t, addr, func(o *Options) { o.SidecarApproval = true })
		id := e.addSecret("billing")
		_, second, err := e.db.CreateToken(context.Background(), storage.NewToken{Kind: storage.TokenAdmin, Name: "ops-2"})
		if err != nil {
			t.Fatal(err)
		}
		var tok wire.Token
		e.must(201, "POST", "/v1/tokens", e.admin, wire.NewToken{Kind: "sidecar", Name: "pod-x", App: "billing"}, &tok)
		if tok.PendingBy == "" || tok.Secret == "" {
			t.Fatalf("created: %+v", tok)
		}
		checkError(t, e.call("GET", "/v1/sidecar/grants/"+id, tok.Secret, nil), 401, wire.CodeUnauthorized, "")
		checkError(t, e.call("POST", "/v1/tokens/"+tok.ID+"/approve", e.admin, nil), 400, wire.CodeInvalid, "other than")
		checkError(t, e.call("GET", "/v1/sidecar/grants/"+id, tok.Secret, nil), 401, wire.CodeUnauthorized, "")
		var approved wire.Token
		e.must(200, "POST", "/v1/tokens/"+tok.ID+"/approve", second, nil, &approved)
		if approved.PendingBy != "" {
			t.Fatalf("approved: %+v", approved)
		}
		e.must(200, "GET", "/v1/sidecar/grants/"+id, tok.Secret, nil, nil)
		checkError(t, e.call("POST", "/v1/tokens/"+tok.ID+"/approve", second, nil), 400, wire.CodeInvalid, "not waiting")
		// Admin tokens need no approval.
		var adm wire.Token
		e.must(201, "POST", "/v1/tokens", e.admin, wire.NewToken{Kind: "admin", Name: "ops-3"}, &adm)
		e.must(200, "GET", "/v1/tokens", adm.Secret, nil, nil)
	})
}
