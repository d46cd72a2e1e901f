package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/internal/testdb"
	"github.com/alter-sidecar/alter/secretstore"
)

func migrationRows(t *testing.T, d *DB) map[int]int64 {
	t.Helper()
	rows, err := d.db.Query("SELECT version, applied_at FROM schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]int64{}
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		out[v] = at
	}
	return out
}

func TestMigrationsApplyOnce(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		first := migrationRows(t, d)
		ms, _ := migrations(d.eng.name)
		if len(first) != len(ms) || len(ms) == 0 {
			t.Fatalf("applied %d migrations, have %d", len(first), len(ms))
		}
		g := mustAdd(t, d, newSecret("tok", "api.github.com"))
		d.Close()
		d2 := openT(t, addr)
		if again := migrationRows(t, d2); !reflect.DeepEqual(first, again) {
			t.Fatalf("re-open changed schema_migrations: %v -> %v", first, again)
		}
		if _, err := d2.Get(context.Background(), g.ID); err != nil {
			t.Fatalf("grant lost on re-open: %v", err)
		}
	})
}

func TestMigrationsRefuseNewerSchema(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		d := openT(t, addr)
		if _, err := d.db.Exec(d.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)"), 999); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(context.Background(), addr, testSealer); !errors.Is(err, secretstore.ErrStoreUnavailable) {
			t.Fatalf("Open on a newer schema: %v, want ErrStoreUnavailable", err)
		}
	})
}

// Several replicas starting at once must apply each migration exactly once.
func TestConcurrentOpen(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		const n = 4
		var wg sync.WaitGroup
		dbs := make([]*DB, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { dbs[i], errs[i] = Open(context.Background(), addr, testSealer) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Open %d: %v", i, err)
			}
			defer dbs[i].Close()
		}
		ms, _ := migrations(dbs[0].eng.name)
		if got := migrationRows(t, dbs[0]); len(got) != len(ms) {
			t.Fatalf("schema_migrations has %d rows, want %d", len(got), len(ms))
		}
		// And they are replicas: a write through one is read through another.
		g := mustAdd(t, dbs[0], newSecret("tok", "api.github.com"))
		if err := dbs[1].Revoke(context.Background(), g.ID); err != nil {
			t.Fatal(err)
		}
		if gi, err := dbs[2].Get(context.Background(), g.ID); err != nil || gi.Status != secretstore.StatusRevoked {
			t.Fatalf("replica sees %v, %v; want revoked", gi.Status, err)
		}
	})
}

func TestOpenAddresses(t *testing.T) {
	dir := t.TempDir()
	for _, addr := range []string{filepath.Join(dir, "a.db"), "sqlite:" + filepath.Join(dir, "b.db"), "sqlite://" + filepath.Join(dir, "c.db")} {
		d, err := Open(context.Background(), addr, testSealer)
		if err != nil {
			t.Fatalf("Open(%q): %v", addr, err)
		}
		d.Close()
	}
	fi, err := os.Stat(filepath.Join(dir, "a.db"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("db file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	for _, addr := range []string{"mysql://x", filepath.Join(dir, "q?x.db")} {
		if _, err := Open(context.Background(), addr, testSealer); err == nil {
			t.Errorf("Open(%q) succeeded", addr)
		}
	}
	if _, err := Open(context.Background(), filepath.Join(dir, "d.db"), nil); err == nil {
		t.Error("Open without a sealer succeeded")
	}
}

// The secret value must not reach the database file in clear: scan the
// SQLite file and its WAL for a sentinel, after an add and a rotation.
func TestSecretNeverStoredInClear(t *testing.T) {
	dir := t.TempDir()
	d, err := Open(context.Background(), filepath.Join(dir, "alter.db"), testSealer)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const first, second = "SENTINEL-first-7f3a9c", "SENTINEL-rotated-51be0d"
	g := mustAdd(t, d, newSecret(first, "api.github.com"))
	if err := d.Rotate(ctx, g.ID, inject.Fields{"token": second}); err != nil {
		t.Fatal(err)
	}
	r, err := d.Resolve(ctx, g.ID, time.Now())
	if err != nil || r.Fields["token"] != second {
		t.Fatalf("Resolve after rotate: %v", err)
	}
	scan := func(when string) {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		if len(files) == 0 {
			t.Fatal("no database files")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{first, second, "SENTINEL"} {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s: %s holds %q in clear", when, filepath.Base(f), s)
				}
			}
		}
	}
	scan("open") // WAL and main file while running
	d.Close()
	scan("closed")
}

// Writers on two replicas at once: nothing lost, and the change sequence
// lists every write once, in increasing order.
func TestConcurrentWritesAcrossReplicas(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, addr string) {
		a, b := openT(t, addr), openT(t, addr)
		const each = 10
		var wg sync.WaitGroup
		errs := make(chan error, 2*each)
		for _, d := range []*DB{a, b} {
			for range each {
				wg.Go(func() {
					if _, err := d.Add(context.Background(), newSecret("tok", "api.github.com")); err != nil {
						errs <- err
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		list, err := b.List(context.Background())
		if err != nil || len(list) != 2*each {
			t.Fatalf("List: %d grants, %v", len(list), err)
		}
		changes, err := a.Changes(context.Background(), 0, 100)
		if err != nil || len(changes) != 2*each {
			t.Fatalf("Changes: %d, %v", len(changes), err)
		}
		for i := 1; i < len(changes); i++ {
			if changes[i].Seq <= changes[i-1].Seq {
				t.Fatalf("sequence not increasing: %d then %d", changes[i-1].Seq, changes[i].Seq)
			}
		}
	})
}
