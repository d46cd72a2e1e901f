package client_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/client/clienttest"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

const secretValue = "sk-test-sentinel-7f3a"

func newClient(t *testing.T, url string, tok string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{URL: url, Token: client.Token(tok), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func bearer() inject.Spec { return inject.Spec{Type: "bearer"} }

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		want      []error
		notWant   []error
		transient bool
	}{
		{"not found", 404, `{"error":"not_found","message":"no such grant"}`, []error{secretstore.ErrNotFound}, []error{secretstore.ErrStoreUnavailable}, false},
		{"invalid", 400, `{"error":"invalid_request","message":"policy: bad"}`, []error{secretstore.ErrInvalid}, nil, false},
		{"too large", 413, `{"error":"request_too_large","message":"x"}`, []error{secretstore.ErrInvalid}, nil, false},
		{"grant unavailable", 403, `{"error":"grant_unavailable","message":"x"}`, []error{secretstore.ErrGrantUnavailable}, []error{secretstore.ErrStoreUnavailable}, false},
		{"unauthorized", 401, `{"error":"unauthorized","message":"x"}`, []error{client.ErrUnauthorized, secretstore.ErrStoreUnavailable}, nil, false},
		{"forbidden", 403, `{"error":"forbidden","message":"x"}`, []error{client.ErrUnauthorized, secretstore.ErrStoreUnavailable}, []error{secretstore.ErrGrantUnavailable}, false},
		{"store unavailable", 503, `{"error":"store_unavailable","message":"x"}`, []error{secretstore.ErrStoreUnavailable}, nil, true},
		// Too many open long polls: come back later; says nothing about grants.
		{"too many requests", 429, `{"error":"too_many_requests","message":"x"}`, []error{secretstore.ErrStoreUnavailable}, []error{secretstore.ErrGrantUnavailable, secretstore.ErrNotFound, client.ErrUnauthorized}, true},
		{"foreign 429 from a balancer", 429, `<html>slow down</html>`, []error{secretstore.ErrStoreUnavailable}, []error{secretstore.ErrGrantUnavailable}, true},
		{"internal", 500, `{"error":"internal_error","message":"x"}`, []error{secretstore.ErrStoreUnavailable}, nil, true},
		{"html 502 from a balancer", 502, `<html>bad gateway</html>`, []error{secretstore.ErrStoreUnavailable}, nil, true},
		// A 404 page that is not our API's answer says nothing about grants.
		{"foreign 404", 404, `<html>not here</html>`, []error{secretstore.ErrStoreUnavailable}, []error{secretstore.ErrNotFound}, false},
		{"foreign 403 with a made-up code", 403, `{"error":"Grant Unavailable!"}`, []error{secretstore.ErrStoreUnavailable}, []error{secretstore.ErrGrantUnavailable}, false},
		{"redirect not followed", 302, ``, []error{secretstore.ErrStoreUnavailable}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.status == 302 {
					w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
				}
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			defer srv.Close()
			c := newClient(t, srv.URL, "alt_a_secrettoken")
			_, err := c.GetGrant(context.Background(), "g1")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("errors.Is(%v, %v) = false", err, w)
				}
			}
			for _, w := range tc.notWant {
				if errors.Is(err, w) {
					t.Errorf("errors.Is(%v, %v) = true", err, w)
				}
			}
			if got := client.Transient(err); got != tc.transient {
				t.Errorf("Transient = %v, want %v", got, tc.transient)
			}
			// Only an answer that is not the API's own can be an outage a
			// cache may bridge: the server's store_unavailable is its word.
			foreign := !strings.HasPrefix(tc.body, `{"error":"`) && (tc.status >= 500 || tc.status == 429)
			if got := client.Unreachable(err); got != foreign {
				t.Errorf("Unreachable = %v, want %v", got, foreign)
			}
			if strings.Contains(err.Error(), "secrettoken") {
				t.Errorf("token in error: %v", err)
			}
		})
	}
}

func TestNetworkErrorsAreUnavailableAndHideURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newClient(t, url, "alt_a_secrettoken")
	_, err := c.QueryAudit(context.Background(), storage.AuditQuery{GrantID: "g-in-query", Actor: "someone"})
	if !errors.Is(err, secretstore.ErrStoreUnavailable) || !client.Transient(err) || !client.Unreachable(err) {
		t.Fatalf("err = %v, want an unreachable ErrStoreUnavailable", err)
	}
	for _, leak := range []string{"g-in-query", "someone", "secrettoken", "?"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q contains %q", err, leak)
		}
	}
}

func TestServerMessageIsCleaned(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"error":"invalid_request","message":"line1\nFAKE LOG LINE\u001b[31m%s"}`, strings.Repeat("x", 1000))
	}))
	defer srv.Close()
	_, err := newClient(t, srv.URL, "alt_a_t").GetGrant(context.Background(), "g")
	if err == nil || strings.ContainsAny(err.Error(), "\n\x1b") || len(err.Error()) > 500 {
		t.Fatalf("message not cleaned: %q", err)
	}
}

func TestTokenNeverPrinted(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1", "alt_s_verysecret")
	for _, s := range []string{fmt.Sprint(c.Token), fmt.Sprintf("%v %+v %#v %s %q %x", c.Token, c.Token, c.Token, c.Token, c.Token, c.Token), fmt.Sprintf("%+v", *c)} {
		if strings.Contains(s, "verysecret") || strings.Contains(s, "7665727973656372") {
			t.Errorf("token printed: %s", s)
		}
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, content string
		mode          os.FileMode
		ok            bool
	}{
		{"good", "alt_s_abc\n", 0o600, true},
		{"readable by group", "alt_s_abc\n", 0o640, false},
		{"empty", "\n", 0o600, false},
		{"space inside", "alt_s abc", 0o600, false},
		{"two lines", "alt_s_abc\nalt_s_def\n", 0o600, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tc.name, " ", "_"), tc.content, tc.mode)
			tok, err := client.LoadTokenFile(p)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), "abc") {
				t.Errorf("error shows the token: %v", err)
			}
			if tc.ok && string(tok) != "alt_s_abc" {
				t.Errorf("token = %q", string(tok))
			}
		})
	}
	t.Setenv("ALTER_TEST_TOKEN", " alt_a_fromenv \n")
	if tok, err := client.TokenFromEnv("ALTER_TEST_TOKEN"); err != nil || string(tok) != "alt_a_fromenv" {
		t.Fatalf("TokenFromEnv = %q, %v", string(tok), err)
	}
	if _, err := client.TokenFromEnv("ALTER_TEST_TOKEN_UNSET"); err == nil {
		t.Fatal("unset variable accepted")
	}
}

// TestTLSWithCAFile: the client trusts the configured CA file only, and
// ignores HTTPS_PROXY.
func TestTLSWithCAFile(t *testing.T) {
	f := clienttest.New()
	defer f.Close()
	srv := httptest.NewTLSServer(f.Server.Config.Handler)
	defer srv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")

	c, err := client.New(client.Options{URL: srv.URL, Token: client.Token(f.AdminToken), CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListGrants(context.Background(), ""); err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
	c2, err := client.New(client.Options{URL: srv.URL, Token: client.Token(f.AdminToken)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.ListGrants(context.Background(), ""); !errors.Is(err, secretstore.ErrStoreUnavailable) {
		t.Fatalf("without the CA file: err = %v, want a TLS failure", err)
	}
	if _, err := client.New(client.Options{URL: srv.URL, Token: "alt_a_x", CAFile: filepath.Join(dir, "missing.pem")}); err == nil {
		t.Fatal("missing CA file accepted")
	}
}

// TestAdminStore drives secretstore.Admin over the API against the fake.
func TestAdminStore(t *testing.T) {
	f := clienttest.New()
	defer f.Close()
	ctx := context.Background()
	s := &client.AdminStore{C: newClient(t, f.URL(), f.AdminToken), App: "app1"}

	g, err := s.Add(ctx, secretstore.NewSecret{Spec: bearer(), Fields: inject.Fields{"token": secretValue},
		Name: "stripe", Policy: policy.Spec{Destinations: []string{"api.example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	if g.ID == "" || g.Name != "stripe" {
		t.Fatalf("Add = %+v", g)
	}
	list, err := s.ListWithApp(ctx)
	if err != nil || len(list) != 1 || list[0].App != "app1" {
		t.Fatalf("ListWithApp = %+v, %v", list, err)
	}
	clone, err := s.Clone(ctx, g.ID, secretstore.CloneRequest{TTL: time.Hour, Policy: policy.Spec{Methods: []string{"GET"}}})
	if err != nil || clone.Parent != g.ID || clone.ExpiresAt == nil {
		t.Fatalf("Clone = %+v, %v", clone, err)
	}
	if err := s.SetPolicy(ctx, g.ID, policy.Spec{Destinations: []string{"api.example.com"}, Methods: []string{"POST"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Rotate(ctx, g.ID, inject.Fields{"token": "new-" + secretValue}); err != nil {
		t.Fatal(err)
	}
	info, err := s.Get(ctx, g.ID)
	if err != nil || info.Secret.Version != 2 || info.Policy.Methods[0] != "POST" {
		t.Fatalf("Get = %+v, %v", info, err)
	}
	if err := s.Revoke(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"get unknown", func() error { _, err := s.Get(ctx, "00000000-0000-4000-8000-000000000000"); return err }(), secretstore.ErrNotFound},
		{"revoke unknown", s.Revoke(ctx, "nope"), secretstore.ErrNotFound},
		{"path tricks", s.Revoke(ctx, ".."), secretstore.ErrNotFound},
		{"bad policy", s.SetPolicy(ctx, clone.ID, policy.Spec{Destinations: []string{"::bad::"}}), secretstore.ErrInvalid},
		{"sidecar token on admin call", func() error {
			_, err := (&client.AdminStore{C: newClient(t, f.URL(), f.SidecarToken)}).List(ctx)
			return err
		}(), client.ErrUnauthorized},
		{"unknown token", func() error {
			_, err := (&client.AdminStore{C: newClient(t, f.URL(), "alt_a_wrong")}).List(ctx)
			return err
		}(), client.ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) {
				t.Fatalf("err = %v, want %v", tc.err, tc.want)
			}
		})
	}
}

func TestSidecarCalls(t *testing.T) {
	f := clienttest.New()
	defer f.Close()
	ctx := context.Background()
	c := newClient(t, f.URL(), f.SidecarToken)
	id := f.AddGrant("app1", bearer(), policy.Spec{Destinations: []string{"api.example.com"}}, inject.Fields{"token": secretValue})
	other := f.AddGrant("other", bearer(), policy.Spec{Destinations: []string{"api.example.com"}}, inject.Fields{"token": secretValue})

	res, err := c.Resolve(ctx, id)
	if err != nil || res.Fields["token"] != secretValue || res.Grant.ID != id {
		t.Fatalf("Resolve = %v, %v", res, err)
	}
	if s := fmt.Sprintf("%v %+v %s", res, res, res); strings.Contains(s, secretValue) {
		t.Fatalf("a Resolution prints its secret: %s", s)
	}
	if _, err := c.Resolve(ctx, other); !errors.Is(err, secretstore.ErrGrantUnavailable) {
		t.Fatalf("other app's grant: %v", err)
	}
	pols, err := c.Policies(ctx)
	if err != nil || len(pols.Policies) != 1 || pols.Seq != 2 {
		t.Fatalf("Policies = %+v, %v", pols, err)
	}
	now, err := c.Changes(ctx, nil, time.Second)
	if err != nil || now.Seq != 2 || len(now.Changes) != 0 {
		t.Fatalf("Changes(now) = %+v, %v", now, err)
	}
	start := time.Now()
	go func() { time.Sleep(100 * time.Millisecond); f.Revoke(id) }()
	after := now.Seq
	ch, err := c.Changes(ctx, &after, 10*time.Second)
	if err != nil || len(ch.Changes) != 1 || ch.Changes[0].GrantID != id || time.Since(start) > 5*time.Second {
		t.Fatalf("Changes(after) = %+v, %v after %v", ch, err, time.Since(start))
	}
	n, err := c.ShipAudit(ctx, []storage.AuditRecord{{ID: "r1", Time: time.Now(), Decision: "allow", Body: []byte(`{}`)}})
	if err != nil || n != 1 {
		t.Fatalf("ShipAudit = %d, %v", n, err)
	}
	if n, _ := c.ShipAudit(ctx, []storage.AuditRecord{{ID: "r1", Time: time.Now(), Decision: "allow", Body: []byte(`{}`)}}); n != 0 {
		t.Fatalf("a known id was inserted again: %d", n)
	}
	if _, err := c.ShipAudit(ctx, make([]storage.AuditRecord, wire.MaxAuditBatch+1)); !errors.Is(err, secretstore.ErrInvalid) {
		t.Fatalf("oversized batch: %v", err)
	}
	if got := f.LastAuthorization(); got != "Bearer "+f.SidecarToken {
		t.Fatalf("Authorization header = %q", got)
	}
}
