package storage

import (
	"context"
	"path/filepath"
	"testing"
)

// BenchmarkPoliciesAmongOthers: one app's policies on a server holding
// 2,000 grants of another app. The app's rows are selected in SQL (the
// grants_app index), so the other app's grants cost nothing: every row
// used to be read, decoded, verified and compiled on each call (44 ms of
// CPU at 2,000 grants).
func BenchmarkPoliciesAmongOthers(b *testing.B) {
	ctx := context.Background()
	d, err := Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "s.db"), testSealer)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for i := range 2010 {
		app := "other"
		if i%201 == 0 {
			app = "billing"
		}
		if _, err := d.AddFor(ctx, app, newSecret("tok", "api.github.com")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ps, err := d.Policies(ctx, "billing")
		if err != nil || len(ps) != 10 {
			b.Fatalf("%d policies, %v", len(ps), err)
		}
	}
}
