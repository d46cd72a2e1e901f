package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/grant"

	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// Apps. A grant belongs to an app (or to none, ""): the app whose sidecar
// tokens may resolve it. A clone belongs to its parent's app. What a
// sidecar sees is filtered here, by the grant's app column, so the API
// cannot forget the filter on one endpoint.

// GrantInfo is a listing entry with the grant's app.
type GrantInfo struct {
	secretstore.GrantInfo
	App string `json:"app,omitempty"`
}

// GrantPolicy is one grant's effective policy.
type GrantPolicy struct {
	GrantID string      `json:"grant_id"`
	Policy  policy.Spec `json:"policy"`
}

// Resolution is a usable grant of an app, as a sidecar receives it.
// Resolved.Fields holds secret values: never log it.
type Resolution struct {
	*secretstore.Resolved
	Info GrantInfo
	// Policy is the effective policy (own AND every ancestor's) as one spec.
	Policy policy.Spec
	// NotAfter is the effective expiry; nil if none.
	NotAfter *time.Time
}

// String never shows the fields' values.
func (r Resolution) String() string { return "storage.Resolution{" + r.Info.ID + ", fields redacted}" }

// ResolveFor resolves a grant for a sidecar of app. A grant of another app
// or of none is refused with ErrGrantUnavailable, exactly like an unknown,
// revoked or expired one; a broken row is ErrStoreUnavailable, as is a
// clone whose effective policy cannot be written as one spec.
func (d *DB) ResolveFor(ctx context.Context, app, grantID string, now time.Time) (*Resolution, error) {
	res, r, v, err := d.resolve(ctx, grantID, now, &app)
	if err != nil {
		return nil, err
	}
	spec, err := effectiveSpec(v.specs)
	if err != nil {
		return nil, fmt.Errorf("%w: grant %s: %v", secretstore.ErrStoreUnavailable, grantID, err)
	}
	out := &Resolution{Resolved: res, Info: GrantInfo{GrantInfo: r.info(v, now), App: r.app}, Policy: spec}
	if !v.expires.IsZero() {
		x := v.expires
		out.NotAfter = &x
	}
	return out, nil
}

// Policies returns the effective policy of every grant of app, revoked and
// expired ones included, oldest first: the sidecar uses them to choose
// which tunnels to terminate, and a request naming a dead grant must still
// reach the proxy to get its 403. A grant whose chain cannot be evaluated
// (a revoked or missing ancestor) is listed with its own policy, which the
// proxy only uses to terminate; a row that fails its checks is left out.
func (d *DB) Policies(ctx context.Context, app string) ([]GrantPolicy, error) {
	if app == "" {
		return []GrantPolicy{}, nil
	}
	all, byID, err := d.loadApp(ctx, app)
	if err != nil {
		return nil, err
	}
	out := []GrantPolicy{}
	for _, r := range all {
		if r.app != app || r.problem != nil {
			continue
		}
		spec := r.g.Policy
		if chain, ok := specChain(r, lookupIn(byID)); ok {
			if eff, err := effectiveSpec(chain); err == nil {
				spec = eff
			}
		}
		out = append(out, GrantPolicy{GrantID: r.g.ID, Policy: spec})
	}
	return out, nil
}

// specChain is the policies of a grant and its ancestors, whether revoked
// or not; ok is false when an ancestor is missing or broken.
func specChain(r *row, lookup func(string) *row) ([]policy.Spec, bool) {
	var chain []policy.Spec
	for cur, depth := r, 0; ; depth++ {
		if cur == nil || cur.problem != nil || depth > grant.MaxCloneDepth {
			return nil, false
		}
		chain = append(chain, cur.g.Policy)
		if cur.g.Parent == "" {
			return chain, true
		}
		cur = lookup(cur.g.Parent)
	}
}

// ChangesFor returns up to limit changes after the given number that
// concern grants or profiles of app, oldest first.
func (d *DB) ChangesFor(ctx context.Context, app string, after int64, limit int) ([]Change, error) {
	if limit <= 0 || limit > maxChangeBatch {
		return nil, invalid("limit %d: want 1 to %d", limit, maxChangeBatch)
	}
	if app == "" {
		return []Change{}, nil
	}
	// The app's grants' changes and its profiles' (which name no grant),
	// each by its own index.
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT seq, at, kind, grant_id, profile FROM (
			SELECT c.seq, c.at, c.kind, c.grant_id, c.profile FROM changes c
			JOIN grants g ON g.id = c.grant_id WHERE c.seq > ? AND g.app = ?
			UNION ALL
			SELECT seq, at, kind, grant_id, profile FROM changes WHERE seq > ? AND profile_app = ?
		) x ORDER BY seq LIMIT ?`), after, app, after, app, limit)
	if err != nil {
		return nil, unavailable(err)
	}
	return scanChanges(rows)
}

// LastChangeFor is the newest change sequence number of app's grants, 0
// if none: the cursor a sidecar of app is given, so that it learns nothing
// of other apps' activity (the global number moves with every app's
// writes).
func (d *DB) LastChangeFor(ctx context.Context, app string) (int64, error) {
	if app == "" {
		return 0, nil
	}
	var seq sql.NullInt64
	if err := d.db.QueryRowContext(ctx, d.q(`SELECT MAX(seq) FROM (
			SELECT MAX(c.seq) AS seq FROM changes c JOIN grants g ON g.id = c.grant_id WHERE g.app = ?
			UNION ALL
			SELECT MAX(seq) AS seq FROM changes WHERE profile_app = ?
		) x`), app, app).Scan(&seq); err != nil {
		return 0, unavailable(err)
	}
	return seq.Int64, nil
}

// checkApp checks an app name: like any name, plus at most 128 bytes and
// no '/', which separates app and token name in shipped audit sources.
func checkApp(app string) error {
	if err := checkText("app", app); err != nil {
		return err
	}
	if app == ServerSource {
		// Shipped records are stored as "<app>/<id>" from "<app>/<token>":
		// this app's would read as the server's own ("server/<uuid>")
		// in the trail and in every SIEM it is forwarded to.
		return invalid("app %q is reserved for the server's own audit records", ServerSource)
	}
	if len(app) > 128 {
		return invalid("app is %d bytes, at most 128", len(app))
	}
	for _, c := range app {
		if c == '/' || c == ' ' {
			return invalid("app may not contain '/' or spaces")
		}
	}
	return nil
}

// GrantApps returns the app of each of the grants named in ids that
// exist: a missing id is not in the map. A grant row that fails its
// integrity check maps to "" (no app), so it is nobody's.
func (d *DB) GrantApps(ctx context.Context, ids []string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if len(ids) > maxAuditBatch {
		return nil, invalid("%d grant ids, at most %d", len(ids), maxAuditBatch)
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	query := `SELECT id, secret_id, parent, policy, revoked, expires_at, app, mac FROM grants WHERE id IN (?` +
		strings.Repeat(", ?", len(ids)-1) + `)`
	rows, err := d.db.QueryContext(ctx, d.q(query), args...)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	for rows.Next() {
		var c grantCols
		var parent sql.NullString
		var mac string
		if err := rows.Scan(&c.id, &c.secretID, &parent, &c.policy, &c.revoked, &c.expires, &c.app, &mac); err != nil {
			return nil, unavailable(err)
		}
		c.parent = parent.String
		if verify(mac, d.grantSum(c)) != nil {
			c.app = ""
		}
		out[c.id] = c.app
	}
	return out, unavailable(rows.Err())
}
