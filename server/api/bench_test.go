package api

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/client"
	"github.com/alter-sidecar/alter/server/storage"
)

// What a sidecar's cache miss costs the control plane. The
// server keeps no cache: every GET /v1/sidecar/grants/{id} authenticates
// the token (one query and a mac) and resolves the grant (one query for
// the grant's chain, two macs, the policy and injection compiled, the
// secret opened), then answers JSON. Run with
//
//	ALTER_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run XXX -bench . -benchmem -benchtime 3s ./server/api
//
// and read resolves/s. No assertion here depends on time.

// benchGrants is how many grants the app has; the goroutines take turns
// over all of them, so no grant is asked for twice in a row.
const benchGrants = 1000

// benchParallelism times GOMAXPROCS is how many requests are in flight:
// several sidecars missing at once, enough to keep the server's cores
// busy while others wait on the loopback or the database.
const benchParallelism = 4

// resolveFixture is one engine's database holding benchGrants grants of
// app "billing", a sidecar token of that app, and the API serving them on
// a loopback listener.
type resolveFixture struct {
	db    *storage.DB
	srv   *httptest.Server
	token string
	ids   []string
}

// forEachBenchEngine runs fn as a sub-benchmark per engine. The testing
// package calls a sub-benchmark several times (b.N = 1, then more) and
// runs its cleanups after each call, so the fixture is built on the first
// call only and torn down when the parent ends.
func forEachBenchEngine(parent *testing.B, fn func(b *testing.B, fx *resolveFixture)) {
	for _, e := range testdb.Engines() {
		var fx *resolveFixture
		parent.Run(e.Name, func(b *testing.B) {
			if fx == nil {
				if skip := e.Missing(); skip != "" {
					// go test shows a skipped benchmark's message only
					// with -v; a missing engine should not pass unnoticed.
					if !testing.Verbose() {
						fmt.Fprintf(os.Stderr, "--- SKIP: %s: %s\n", b.Name(), skip)
					}
					b.Skip(skip)
				}
				tb := setupTB{B: b, parent: parent}
				fx = newResolveFixture(tb, e.Fresh(tb))
			}
			fn(b, fx)
		})
	}
}

// setupTB fails through the sub-benchmark that builds a fixture, on its
// own goroutine, but leaves the fixture's files and cleanups to the parent.
type setupTB struct {
	*testing.B
	parent *testing.B
}

func (s setupTB) Cleanup(f func()) { s.parent.Cleanup(f) }
func (s setupTB) TempDir() string  { return s.parent.TempDir() }

func newResolveFixture(tb testing.TB, addr string) *resolveFixture {
	ctx := context.Background()
	db, err := storage.Open(ctx, addr, testKeys)
	if err != nil {
		tb.Fatalf("storage.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	fx := &resolveFixture{db: db}
	if _, fx.token, err = db.CreateToken(ctx, storage.NewToken{Kind: storage.TokenSidecar, Name: "pod-1", App: "billing"}); err != nil {
		tb.Fatal(err)
	}
	for i := range benchGrants {
		g, err := db.AddFor(ctx, "billing", secretstore.NewSecret{
			Spec:   inject.Spec{Type: inject.TypeBearer},
			Fields: inject.Fields{"token": "sk_live_bench_" + hex.EncodeToString([]byte{byte(i >> 8), byte(i)})},
			Name:   "stripe-prod",
			Labels: []string{"team-a"},
			Policy: policy.Spec{Destinations: []string{"api.stripe.com"}, Methods: []string{"GET", "POST"}},
		})
		if err != nil {
			tb.Fatalf("AddFor %d: %v", i, err)
		}
		fx.ids = append(fx.ids, g.ID)
	}
	// The access log as the server writes it (JSON, info level), to a
	// sink that costs nothing, so its encoding is counted.
	logger := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel))
	h := New(Options{Store: db, Logger: logger})
	fx.srv = httptest.NewServer(h)
	tb.Cleanup(func() { h.Close(); fx.srv.Close() })
	return fx
}

// next hands out the grant ids in turn to every goroutine.
func (fx *resolveFixture) next(n *atomic.Uint64) string {
	return fx.ids[(n.Add(1)-1)%uint64(len(fx.ids))]
}

// reportResolves adds the resolves-per-second figure the README quotes.
func reportResolves(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resolves/s")
}

// BenchmarkSidecarResolve is a sidecar cache miss as the server sees it:
// GET /v1/sidecar/grants/{id} through server/client (keep-alive, the
// sidecar's own transport) on a loopback listener, every call a full
// server-side resolution of a different grant than the last. Client and
// server share the machine's cores, so the figure is a lower bound for a
// server with cores of its own.
func BenchmarkSidecarResolve(b *testing.B) {
	forEachBenchEngine(b, func(b *testing.B, fx *resolveFixture) {
		c, err := client.New(client.Options{URL: fx.srv.URL, Token: client.Token(fx.token), Timeout: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		var n atomic.Uint64
		b.ReportAllocs()
		b.SetParallelism(benchParallelism)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := fx.next(&n)
				res, err := c.Resolve(ctx, id)
				if err != nil {
					b.Errorf("resolve %s: %v", id, err)
					return
				}
				if res.Grant.ID != id || res.Fields["token"] == "" {
					b.Errorf("resolve %s: answered for %s, %d fields", id, res.Grant.ID, len(res.Fields))
					return
				}
			}
		})
		reportResolves(b)
	})
}

// BenchmarkStorageResolveFor is the same resolution without HTTP, JSON
// or the token check: storage.ResolveFor alone, to show how much of the
// request is the database and the crypto.
func BenchmarkStorageResolveFor(b *testing.B) {
	forEachBenchEngine(b, func(b *testing.B, fx *resolveFixture) {
		ctx := context.Background()
		var n atomic.Uint64
		b.ReportAllocs()
		b.SetParallelism(benchParallelism)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := fx.next(&n)
				res, err := fx.db.ResolveFor(ctx, "billing", id, time.Now())
				if err != nil {
					b.Errorf("ResolveFor %s: %v", id, err)
					return
				}
				if res.Info.ID != id || res.Fields["token"] == "" {
					b.Errorf("ResolveFor %s: answered for %s", id, res.Info.ID)
					return
				}
			}
		})
		reportResolves(b)
	})
}
