package remote_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/mint"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/secretstore/remote"
	"github.com/alter-sidecar/alter/server/api"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// TestMintedGrantOnTheControlPlane: a client-credentials grant on a real
// server. The sidecar's resolve has no fields (the server keeps the client
// secret); MintToken returns the server's token; a token endpoint that
// refuses gives a *mint.Error with the server's reason.
func TestMintedGrantOnTheControlPlane(t *testing.T) {
	const clientSecret = "cs-remote-sentinel-77a1"
	var refuse atomic.Bool
	tokenSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if refuse.Load() || r.PostForm.Get("client_secret") != clientSecret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "remote-minted-token", "expires_in": 600})
	}))
	defer tokenSrv.Close()
	keys, err := secretstore.ParseKeyring([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))+"\n"), "test key")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := storage.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "server.db"), keys)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, sidecarTok, err := db.CreateToken(ctx, storage.NewToken{Kind: wire.KindSidecar, Name: "pod", App: "app1"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := db.AddFor(ctx, "app1", secretstore.NewSecret{
		Spec:   inject.Spec{Type: inject.TypeOAuth2ClientCredentials, Mint: &inject.MintSpec{TokenURL: tokenSrv.URL + "/token", ClientAuth: "body"}},
		Fields: inject.Fields{"client_id": "cid", "client_secret": clientSecret}, Policy: policy.Spec{Destinations: []string{"api.example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Options{Store: db, MintTransport: tokenSrv.Client().Transport})
	srv := httptest.NewServer(h)
	defer func() { srv.CloseClientConnections(); h.Close(); srv.Close() }()
	c, err := client.New(client.Options{URL: srv.URL, Token: client.Token(sidecarTok), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, err := remote.New(c, remote.Options{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Resolve(ctx, g.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, minted := res.Injector.Mint(); !minted || len(res.Fields) != 0 {
		t.Fatalf("the sidecar received fields for a minted grant: %v", res.Fields.Names())
	}
	tok, lifetime, err := r.MintToken(ctx, g.ID)
	if err != nil || tok != "remote-minted-token" || lifetime < 9*time.Minute {
		t.Fatalf("MintToken: %v", err)
	}
	refuse.Store(true)
	h2 := api.New(api.Options{Store: db, MintTransport: tokenSrv.Client().Transport}) // no cached token
	srv2 := httptest.NewServer(h2)
	defer func() { srv2.CloseClientConnections(); h2.Close(); srv2.Close() }()
	c2, _ := client.New(client.Options{URL: srv2.URL, Token: client.Token(sidecarTok), Timeout: 5 * time.Second})
	r2, _ := remote.New(c2, remote.Options{TTL: time.Hour})
	_, _, err = r2.MintToken(ctx, g.ID)
	var me *mint.Error
	if !errors.As(err, &me) || me.Reason != mint.ReasonRejected {
		t.Fatalf("refused by the token endpoint: %v", err)
	}
	if strings.Contains(err.Error(), clientSecret) {
		t.Fatal("the error names the secret")
	}
}
