package storage

import (
	"context"
	"testing"

	"github.com/alter-sidecar/alter/internal/testdb"
)

// BenchmarkAuditAfterDeepInTheTrail: the next batch for a target near the
// end of a 200,000-record trail, spread over 2,000 transactions. The
// position is compared as a row value, (xid, seq) > (?, ?), which the
// audit_xid index answers as a range: spelt as xid > ? OR (xid = ? AND
// seq > ?), PostgreSQL read every row before the position (about 1,000
// times slower on this trail).
func BenchmarkAuditAfterDeepInTheTrail(b *testing.B) {
	ctx := context.Background()
	for _, e := range testdb.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			d, err := Open(ctx, e.Fresh(b), testSealer)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			const n = 200_000
			fill := `INSERT INTO audit (id, source, at, decision, body) SELECT 'r' || g, 'app/s', 0, 'allow', '{}' FROM generate_series(1, 200000) AS g`
			spread := `UPDATE audit SET xid = 1 + seq / 100` // below any real transaction id: all committed
			if !d.eng.dollar {
				fill = `WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 200000)
					INSERT INTO audit (id, source, at, decision, body) SELECT 'r' || x, 'app/s', 0, 'allow', '{}' FROM g`
				spread = `SELECT 1` // xid is 0 on SQLite
			}
			for _, q := range []string{fill, spread, "ANALYZE audit"} {
				if _, err := d.db.ExecContext(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			all, err := d.AuditAfter(ctx, AuditPosition{}, 1)
			if err != nil || len(all) != 1 {
				b.Fatalf("%d records, %v", len(all), err)
			}
			// The position of the record 1,000 from the end.
			var from AuditPosition
			if err := d.db.QueryRowContext(ctx, d.q(`SELECT xid, seq FROM audit ORDER BY xid, seq LIMIT 1 OFFSET ?`), n-1000).Scan(&from.XID, &from.Seq); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				recs, err := d.AuditAfter(ctx, from, 100)
				if err != nil || len(recs) != 100 {
					b.Fatalf("%d records, %v", len(recs), err)
				}
			}
		})
	}
}
