package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/client/clienttest"
	"github.com/alter-sidecar/alter/server/storage"
)

// TestAgainstRealServer runs the client against server/api over SQLite:
// the contract as the server implements it, not as the fake imitates it.
func TestAgainstRealServer(t *testing.T) {
	srv := clienttest.NewReal(t)
	ctx := context.Background()
	admin := &client.AdminStore{C: newClient(t, srv.URL(), srv.AdminToken), App: srv.App}
	side := newClient(t, srv.URL(), srv.SidecarToken)

	g, err := admin.Add(ctx, secretstore.NewSecret{Spec: bearer(), Fields: inject.Fields{"token": secretValue},
		Name: "real", Policy: policy.Spec{Destinations: []string{"api.example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := (&client.AdminStore{C: admin.C, App: "other"}).Add(ctx, secretstore.NewSecret{Spec: bearer(),
		Fields: inject.Fields{"token": secretValue}, Policy: policy.Spec{Destinations: []string{"api.example.com"}}})
	if err != nil {
		t.Fatal(err)
	}

	res, err := side.Resolve(ctx, g.ID)
	if err != nil || res.Fields["token"] != secretValue || res.Grant.App != srv.App {
		t.Fatalf("Resolve = %v, %v (the secret must arrive as a JSON object)", res, err)
	}
	start, err := side.Changes(ctx, nil, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clone, err := admin.Clone(ctx, g.ID, secretstore.CloneRequest{TTL: time.Hour, Policy: policy.Spec{Methods: []string{"GET"}}})
	if err != nil {
		t.Fatal(err)
	}
	after := start.Seq
	ch, err := side.Changes(ctx, &after, 5*time.Second)
	if err != nil || len(ch.Changes) == 0 || ch.Changes[0].GrantID != clone.ID {
		t.Fatalf("Changes after clone = %+v, %v", ch, err)
	}
	if err := admin.Rotate(ctx, g.ID, inject.Fields{"token": "rotated-" + secretValue}); err != nil {
		t.Fatal(err)
	}
	if res, err := side.Resolve(ctx, clone.ID); err != nil || res.Fields["token"] != "rotated-"+secretValue || res.NotAfter == nil {
		t.Fatalf("clone after rotation: %v", err)
	}
	pols, err := side.Policies(ctx)
	if err != nil || len(pols.Policies) != 2 {
		t.Fatalf("Policies = %+v, %v", pols, err)
	}
	if err := admin.Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	rec := storage.AuditRecord{ID: "real-1", Time: at, Decision: "deny", GrantID: g.ID,
		Body: []byte(`{"ts":"` + at.Format(time.RFC3339Nano) + `","grant_id":"` + g.ID + `","decision":"deny","run_id":"run-7","tool":"web_search"}`)}
	n, err := side.ShipAudit(ctx, []storage.AuditRecord{rec})
	if err != nil || n != 1 {
		t.Fatalf("ShipAudit = %d, %v", n, err)
	}
	if n, err := side.ShipAudit(ctx, []storage.AuditRecord{rec}); err != nil || n != 0 {
		t.Fatalf("retried record inserted again: %d, %v", n, err)
	}
	page, err := admin.C.QueryAudit(ctx, storage.AuditQuery{GrantID: g.ID, Decision: "deny", Since: time.Now().Add(-time.Hour)})
	if err != nil || len(page.Records) != 1 {
		t.Fatalf("QueryAudit = %+v, %v", page, err)
	}
	// The call context's columns come from the body, and filter.
	if r := page.Records[0]; r.RunID != "run-7" || r.Tool != "web_search" {
		t.Fatalf("record run_id %q tool %q", r.RunID, r.Tool)
	}
	for _, q := range []struct {
		q    storage.AuditQuery
		want int
	}{
		{storage.AuditQuery{RunID: "run-7", Tool: "web_search"}, 1},
		{storage.AuditQuery{RunID: "run-7"}, 1},
		{storage.AuditQuery{Tool: "web_search", GrantID: g.ID}, 1},
		{storage.AuditQuery{RunID: "run-8"}, 0},
		{storage.AuditQuery{RunID: "run-7", Tool: "other"}, 0},
	} {
		page, err := admin.C.QueryAudit(ctx, q.q)
		if err != nil || len(page.Records) != q.want {
			t.Fatalf("QueryAudit(%+v) = %d records, %v; want %d", q.q, len(page.Records), err, q.want)
		}
	}

	cases := []struct {
		name string
		err  func() error
		want error
	}{
		{"revoked grant", func() error { _, err := side.Resolve(ctx, g.ID); return err }, secretstore.ErrGrantUnavailable},
		{"revoked parent", func() error { _, err := side.Resolve(ctx, clone.ID); return err }, secretstore.ErrGrantUnavailable},
		{"other app's grant", func() error { _, err := side.Resolve(ctx, other.ID); return err }, secretstore.ErrGrantUnavailable},
		{"unknown grant", func() error { _, err := side.Resolve(ctx, "00000000-0000-4000-8000-000000000000"); return err }, secretstore.ErrGrantUnavailable},
		{"admin: unknown grant", func() error { _, err := admin.Get(ctx, "00000000-0000-4000-8000-000000000000"); return err }, secretstore.ErrNotFound},
		{"admin: widening clone", func() error {
			_, err := admin.Clone(ctx, other.ID, secretstore.CloneRequest{Policy: policy.Spec{Destinations: []string{"evil.example.com"}}})
			return err
		}, secretstore.ErrInvalid},
		{"sidecar token on an admin call", func() error { _, err := (&client.AdminStore{C: side}).List(ctx); return err }, client.ErrUnauthorized},
		{"admin token on a sidecar call", func() error { _, err := admin.C.Resolve(ctx, g.ID); return err }, client.ErrUnauthorized},
		{"unknown token", func() error { _, err := newClient(t, srv.URL(), "alt_s_unknown").Policies(ctx); return err }, client.ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, leak := range []string{secretValue, srv.AdminToken, srv.SidecarToken} {
				if strings.Contains(err.Error(), leak) {
					t.Fatalf("error leaks: %v", err)
				}
			}
		})
	}
}
