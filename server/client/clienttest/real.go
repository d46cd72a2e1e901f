package clienttest

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/api"
	"github.com/alter-sidecar/alter/server/storage"
	"github.com/alter-sidecar/alter/server/wire"
)

// Real is the real control plane (server/api over server/storage on a
// SQLite file in a temporary directory), for tests that check a client
// against the server rather than against Fake.
type Real struct {
	Server       *httptest.Server
	DB           storage.Storage
	AdminToken   string
	SidecarToken string // for App
	App          string
}

// NewReal starts a real server; it is closed when the test ends.
func NewReal(t testing.TB) *Real {
	t.Helper()
	keys, err := secretstore.ParseKeyring([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), "test key")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := storage.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "server.db"), keys)
	if err != nil {
		t.Fatal(err)
	}
	r := &Real{DB: db, App: "app1"}
	if _, r.AdminToken, err = db.CreateToken(ctx, storage.NewToken{Kind: wire.KindAdmin, Name: "test-admin"}); err != nil {
		t.Fatal(err)
	}
	if _, r.SidecarToken, err = db.CreateToken(ctx, storage.NewToken{Kind: wire.KindSidecar, Name: "test-sidecar", App: r.App}); err != nil {
		t.Fatal(err)
	}
	h := api.New(api.Options{Store: db})
	r.Server = httptest.NewServer(h)
	t.Cleanup(func() {
		r.Server.CloseClientConnections()
		h.Close()
		r.Server.Close()
		db.Close()
	})
	return r
}

// URL is the server's base URL.
func (r *Real) URL() string { return r.Server.URL }
