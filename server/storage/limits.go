package storage

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// Rates and quotas for every sidecar of an app: the server is the arbiter.
// A sidecar asks for a small lease of uses of a grant (TakeUses) and spends
// it locally; each use granted is counted at once against the grant's own
// limits and every ancestor's (rate_uses: one row per use, a sliding log;
// rate_quotas: a count per calendar period). Writers are serialised by
// the engine's write lock (open.go), so replicas never grant the same use
// twice. Uses granted but not spent (a lease that lapses) stay counted:
// the error is on the side of fewer requests, never more.

// UseLease is what TakeUses granted.
type UseLease struct {
	Granted int
	// RetryAfter is when a refused use could be granted (Granted == 0).
	RetryAfter time.Duration
	// GrantID and Limit name the limit that refused ("20/m").
	GrantID, Limit string
}

// limitOf is one chain member's limits with its grant id.
type limitOf struct {
	grantID string
	limits  policy.Limits
}

// TakeUses grants up to want uses of grantID (a grant of app) for actor.
// Another app's, an unknown, a revoked or an expired grant is
// ErrGrantUnavailable, a broken one ErrStoreUnavailable.
func (d *DB) TakeUses(ctx context.Context, app, grantID, actor string, want int, now time.Time) (UseLease, error) {
	if want < 1 {
		want = 1
	}
	r, lookup, err := d.loadChain(ctx, d.db, grantID)
	if err != nil {
		return UseLease{}, err
	}
	if r == nil || app == "" || r.app != app {
		return UseLease{}, secretstore.ErrGrantUnavailable
	}
	v := evaluate(r, lookup)
	switch {
	case v.problem != nil:
		return UseLease{}, fmt.Errorf("%w: grant %s: %v", secretstore.ErrStoreUnavailable, grantID, v.problem)
	case v.unavailable, !v.expires.IsZero() && !now.Before(v.expires):
		return UseLease{}, secretstore.ErrGrantUnavailable
	}
	var chain []limitOf
	for i, spec := range v.specs {
		p, err := policy.Compile(spec)
		if err != nil {
			return UseLease{}, fmt.Errorf("%w: grant %s: %v", secretstore.ErrStoreUnavailable, v.ids[i], err)
		}
		if l := p.Limits()[0]; l.Any() {
			chain = append(chain, limitOf{grantID: v.ids[i], limits: l})
		}
	}
	if len(chain) == 0 {
		return UseLease{Granted: want}, nil
	}
	var out UseLease
	err = d.writeQuiet(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = d.takeUses(ctx, tx, chain, actor, want, now)
		return err
	})
	return out, err
}

func limitKey(kind, grantID, actor string, l policy.Limits) string {
	if !l.PerActor {
		actor = ""
	}
	return kind + "|" + grantID + "|" + actor
}

func (d *DB) takeUses(ctx context.Context, tx *sql.Tx, chain []limitOf, actor string, want int, now time.Time) (UseLease, error) {
	nowUS := micro(now)
	granted := want
	var refused UseLease
	refuse := func(c limitOf, l *policy.Limit, wait time.Duration) {
		if refused.RetryAfter == 0 || wait > refused.RetryAfter {
			refused = UseLease{RetryAfter: wait, GrantID: c.grantID, Limit: l.Text}
		}
	}
	for _, c := range chain {
		if r := c.limits.Rate; r != nil {
			key := limitKey("r", c.grantID, actor, c.limits)
			since := nowUS - r.Per.Microseconds()
			if _, err := tx.ExecContext(ctx, d.q(`DELETE FROM rate_uses WHERE limit_key = ? AND at_us <= ?`), key, since); err != nil {
				return UseLease{}, unavailable(err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM rate_uses WHERE limit_key = ?`), key).Scan(&n); err != nil {
				return UseLease{}, unavailable(err)
			}
			if left := r.N - n; left < granted {
				granted = max(left, 0)
			}
			if n >= r.N {
				var oldest int64
				if err := tx.QueryRowContext(ctx, d.q(`SELECT at_us FROM rate_uses WHERE limit_key = ? ORDER BY at_us LIMIT 1 OFFSET ?`), key, n-r.N).Scan(&oldest); err != nil {
					return UseLease{}, unavailable(err)
				}
				refuse(c, r, fromMicro(oldest).Add(r.Per).Sub(now))
			}
		}
		if q := c.limits.Quota; q != nil {
			key := limitKey("q", c.grantID, actor, c.limits)
			start := micro(q.PeriodStart(now, c.limits.Zone))
			if _, err := tx.ExecContext(ctx, d.q(`DELETE FROM rate_quotas WHERE limit_key = ? AND period_start_us <> ?`), key, start); err != nil {
				return UseLease{}, unavailable(err)
			}
			var n int
			err := tx.QueryRowContext(ctx, d.q(`SELECT n FROM rate_quotas WHERE limit_key = ? AND period_start_us = ?`), key, start).Scan(&n)
			if err != nil && err != sql.ErrNoRows {
				return UseLease{}, unavailable(err)
			}
			if left := q.N - n; left < granted {
				granted = max(left, 0)
			}
			if n >= q.N {
				refuse(c, q, q.PeriodEnd(now, c.limits.Zone).Sub(now))
			}
		}
	}
	if granted == 0 {
		if refused.RetryAfter < time.Second {
			refused.RetryAfter = time.Second
		}
		return refused, nil
	}
	for _, c := range chain {
		if r := c.limits.Rate; r != nil {
			key := limitKey("r", c.grantID, actor, c.limits)
			for i := 0; i < granted; i++ {
				if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO rate_uses (limit_key, at_us) VALUES (?, ?)`), key, nowUS); err != nil {
					return UseLease{}, unavailable(err)
				}
			}
		}
		if q := c.limits.Quota; q != nil {
			key := limitKey("q", c.grantID, actor, c.limits)
			start := micro(q.PeriodStart(now, c.limits.Zone))
			if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO rate_quotas (limit_key, period_start_us, n) VALUES (?, ?, ?)
				ON CONFLICT (limit_key, period_start_us) DO UPDATE SET n = rate_quotas.n + excluded.n`), key, start, granted); err != nil {
				return UseLease{}, unavailable(err)
			}
		}
	}
	return UseLease{Granted: granted}, nil
}
