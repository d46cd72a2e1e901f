package storage

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alter-sidecar/alter/internal/testdb"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		admin, adminSecret, err := d.CreateToken(ctx, NewToken{Kind: TokenAdmin, Name: "ops"})
		if err != nil || !strings.HasPrefix(adminSecret, "alt_a_") || len(adminSecret) != len("alt_a_")+43 {
			t.Fatalf("CreateToken: %q %v", adminSecret, err)
		}
		side, sideSecret, err := d.CreateToken(ctx, NewToken{Kind: TokenSidecar, Name: "pod-1", App: "billing"})
		if err != nil || !strings.HasPrefix(sideSecret, "alt_s_") {
			t.Fatalf("CreateToken sidecar: %v", err)
		}
		for _, bad := range []NewToken{
			{Kind: "root", Name: "x"},
			{Kind: TokenAdmin, Name: ""},
			{Kind: TokenAdmin, Name: "x", App: "billing"},
			{Kind: TokenSidecar, Name: "x"},
			{Kind: TokenSidecar, Name: "a/b", App: "billing"},
			{Kind: TokenSidecar, Name: "x", App: "bil/ling"},
		} {
			if _, _, err := d.CreateToken(ctx, bad); err == nil {
				t.Errorf("CreateToken(%+v) succeeded", bad)
			}
		}
		if got, err := d.AuthenticateToken(ctx, sideSecret); err != nil || got.ID != side.ID || got.App != "billing" {
			t.Fatalf("AuthenticateToken: %+v %v", got, err)
		}
		for name, tok := range map[string]string{
			"unknown":      "alt_a_" + strings.Repeat("A", 43),
			"no prefix":    strings.TrimPrefix(adminSecret, "alt_a_"),
			"wrong prefix": "alt_s_" + strings.TrimPrefix(adminSecret, "alt_a_"),
			"empty":        "",
		} {
			if _, err := d.AuthenticateToken(ctx, tok); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("%s: %v", name, err)
			}
		}
		if _, err := d.RevokeToken(ctx, admin.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := d.RevokeToken(ctx, admin.ID); err != nil {
			t.Fatalf("revoking twice: %v", err)
		}
		if _, err := d.AuthenticateToken(ctx, adminSecret); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("revoked token: %v", err)
		}
		if _, err := d.RevokeToken(ctx, "nope"); !errors.Is(err, ErrTokenNotFound) {
			t.Fatalf("unknown token: %v", err)
		}
		list, err := d.ListTokens(ctx)
		if err != nil || len(list) != 2 || list[0].RevokedAt == nil || list[1].RevokedAt != nil {
			t.Fatalf("ListTokens: %+v %v", list, err)
		}

		// Edited rows: un-revoked, or moved to another app, do not authenticate.
		if _, err := d.db.Exec(d.q(`UPDATE tokens SET revoked_at = NULL WHERE id = ?`), admin.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := d.AuthenticateToken(ctx, adminSecret); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("un-revoked in SQL: %v", err)
		}
		if _, err := d.db.Exec(d.q(`UPDATE tokens SET app = 'search' WHERE id = ?`), side.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := d.AuthenticateToken(ctx, sideSecret); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("app changed in SQL: %v", err)
		}
		if list, _ := d.ListTokens(ctx); len(list) != 0 {
			t.Fatalf("ListTokens shows edited rows: %+v", list)
		}
	})
}
