package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/internal/testkeys"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/alter-sidecar/alter/internal/testbin"
	"github.com/alter-sidecar/alter/server/storage"
)

// The suite runs on SQLite always and on PostgreSQL when
// ALTER_TEST_DATABASE_URL is set (internal/testdb), as server/storage's does.

var testKeys = testkeys.Fixed(9)

// logBuffer collects the JSON log lines of a test's server.
type logBuffer struct{ testbin.SyncBuffer }

func (l *logBuffer) Sync() error { return nil }

// env is one API server over one database, with an admin token and a
// sidecar token for each of the apps "billing" and "search".
type env struct {
	t                      *testing.T
	db                     *storage.DB
	srv                    *httptest.Server
	api                    *Handler
	logs                   *logBuffer
	admin, billing, search string
}

func openDB(t *testing.T, addr string) *storage.DB {
	t.Helper()
	db, err := storage.Open(context.Background(), addr, testKeys)
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newEnv(t *testing.T, addr string, opts ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, db: openDB(t, addr), logs: &logBuffer{}}
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), e.logs, zap.DebugLevel)
	o := Options{Store: e.db, Logger: zap.New(core)}
	for _, f := range opts {
		f(&o)
	}
	e.api = New(o)
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(func() { e.api.Close(); e.srv.Close() })
	ctx := context.Background()
	var err error
	if _, e.admin, err = e.db.CreateToken(ctx, storage.NewToken{Kind: storage.TokenAdmin, Name: "ops"}); err != nil {
		t.Fatal(err)
	}
	if _, e.billing, err = e.db.CreateToken(ctx, storage.NewToken{Kind: storage.TokenSidecar, Name: "pod-1", App: "billing"}); err != nil {
		t.Fatal(err)
	}
	if _, e.search, err = e.db.CreateToken(ctx, storage.NewToken{Kind: storage.TokenSidecar, Name: "pod-2", App: "search"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// answer is one HTTP answer, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) code() string { return a.header.Get("X-Alter-Error") }

// call makes a request. body is sent as is when it is a string, else as
// JSON; nil sends none.
func (e *env) call(method, path, token string, body any) answer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// must makes a call that must answer status, decoding the body into out.
func (e *env) must(status int, method, path, token string, body, out any) answer {
	e.t.Helper()
	a := e.call(method, path, token, body)
	if a.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, a.status, status, a.body)
	}
	if out != nil {
		if err := json.Unmarshal(a.body, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, a.body, err)
		}
	}
	return a
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// addSecret stores a bearer secret for app and returns its grant's id.
func (e *env) addSecret(app string) string {
	e.t.Helper()
	var g struct {
		ID string `json:"id"`
	}
	e.must(201, "POST", "/v1/secrets", e.admin, bearerSecret(app, sentinel, "api.stripe.com"), &g)
	return g.ID
}
