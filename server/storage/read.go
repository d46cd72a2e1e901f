package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/alter-sidecar/alter/grant"

	"github.com/alter-sidecar/alter/inject"
	"github.com/alter-sidecar/alter/policy"
	"github.com/alter-sidecar/alter/secretstore"
)

// Reads. Every call queries the database, in one statement where it needs
// a consistent view (a grant with its parents and its secret), so a
// change committed by any replica is seen by the next call on every one.

// row is a grant as stored, with its secret's description. problem is set
// when the row does not decode, its policy does not compile, or it or its
// secret fails the integrity check: the grant is then listed as unusable,
// never used. The raw columns are kept so a write can re-sign the row
// without re-encoding what it does not change.
type row struct {
	g       secretstore.Grant
	app     string
	sec     *secretstore.SecretInfo // nil if the secret row is missing
	sealed  []byte
	pol     *policy.Policy
	problem error
	// tampered is set when the grant row's own mac does not verify: a
	// write must not re-sign such a row.
	tampered bool

	rawPolicy, rawSpec string
	expires            sql.NullInt64
}

const rowCols = `g.id, g.secret_id, g.name, g.labels, g.parent, g.policy, g.revoked,
	g.expires_at, g.created_at, g.updated_at, g.app, g.mac,
	s.id, s.spec, s.provider, s.fields, s.version, s.key_id, s.updated_at, s.sealed, s.mac`

type scanner interface{ Scan(dest ...any) error }

// scanRow reads rowCols and checks the grant's and its secret's macs.
func (d *DB) scanRow(sc scanner) (*row, error) {
	var (
		r                            row
		labels, gmac                 string
		parent                       sql.NullString
		created, updated             int64
		sid, spec, prov, fields, kid sql.NullString
		smac                         sql.NullString
		version, supdated            sql.NullInt64
		blob                         []byte
	)
	if err := sc.Scan(&r.g.ID, &r.g.SecretID, &r.g.Name, &labels, &parent, &r.rawPolicy, &r.g.Revoked,
		&r.expires, &created, &updated, &r.app, &gmac,
		&sid, &spec, &prov, &fields, &version, &kid, &supdated, &blob, &smac); err != nil {
		return nil, err
	}
	r.g.Parent = parent.String
	r.g.CreatedAt, r.g.UpdatedAt = fromMicro(created), fromMicro(updated)
	if r.expires.Valid {
		x := fromMicro(r.expires.Int64)
		r.g.ExpiresAt = &x
	}
	// The mac first: a tampered row's other problems are beside the point.
	if err := verify(gmac, d.grantSum(grantCols{id: r.g.ID, secretID: r.g.SecretID, parent: r.g.Parent,
		policy: r.rawPolicy, revoked: r.g.Revoked, expires: r.expires, app: r.app})); err != nil {
		r.problem, r.tampered = err, true
	}
	if err := json.Unmarshal([]byte(labels), &r.g.Labels); err != nil && r.problem == nil {
		r.problem = fmt.Errorf("labels do not decode: %v", err)
	}
	if err := json.Unmarshal([]byte(r.rawPolicy), &r.g.Policy); err != nil {
		if r.problem == nil {
			r.problem = fmt.Errorf("policy does not decode: %v", err)
		}
	} else if pol, err := policy.Compile(r.g.Policy); err != nil {
		if r.problem == nil {
			r.problem = fmt.Errorf("policy does not compile: %v", err)
		}
	} else if !r.tampered {
		r.pol = pol
	}
	if sid.Valid {
		r.rawSpec = spec.String
		s := &secretstore.SecretInfo{ID: sid.String, Provider: prov.String, Version: int(version.Int64),
			KeyID: kid.String, UpdatedAt: fromMicro(supdated.Int64)}
		if err := verify(smac.String, d.secretSum(s.ID, spec.String, s.KeyID, blob, version.Int64)); err != nil && r.problem == nil {
			r.problem = fmt.Errorf("secret %s: %w", s.ID, err)
		}
		if err := json.Unmarshal([]byte(spec.String), &s.Spec); err != nil && r.problem == nil {
			r.problem = fmt.Errorf("secret %s: spec does not decode: %v", s.ID, err)
		}
		if err := json.Unmarshal([]byte(fields.String), &s.Fields); err != nil && r.problem == nil {
			r.problem = fmt.Errorf("secret %s: field names do not decode: %v", s.ID, err)
		}
		r.sec, r.sealed = s, blob
	}
	return &r, nil
}

// eval is a grant's standing after the chain rule (grant.Evaluate) walked
// its parents, and its secret row was found; expiry is checked against a
// time by the caller.
type eval struct {
	status      string
	problem     error          // ErrStoreUnavailable territory
	unavailable bool           // revoked or parent missing
	expires     time.Time      // earliest expiry on the chain; zero if none
	effective   *policy.Policy // own AND every ancestor's
	specs       []policy.Spec  // the chain's policies, the grant's first
	ids         []string       // the chain's grant ids, the grant's first
}

func evaluate(e *row, lookup func(id string) *row) eval {
	link := func(r *row) grant.Link { return grant.Link{Grant: r.g, Policy: r.pol, Problem: r.problem} }
	c := grant.Evaluate(link(e), func(id string) (grant.Link, bool) {
		p := lookup(id)
		if p == nil {
			return grant.Link{}, false
		}
		return link(p), true
	})
	v := eval{status: c.Status, problem: c.Problem, unavailable: c.Unavailable, expires: c.Expires, effective: c.Effective, specs: c.Specs, ids: c.IDs}
	if c.Usable() && e.sec == nil {
		v.status, v.problem = secretstore.StatusUnusable, fmt.Errorf("its secret %s is not in the store", e.g.SecretID)
	}
	return v
}

// info is the listing form of a row at now.
func (r *row) info(v eval, now time.Time) secretstore.GrantInfo {
	gi := secretstore.GrantInfo{Grant: r.g, Status: v.status}
	if v.problem != nil {
		gi.Problem = v.problem.Error()
	}
	if v.status == secretstore.StatusActive && !v.expires.IsZero() && !now.Before(v.expires) {
		gi.Status = secretstore.StatusExpired
	}
	if !v.expires.IsZero() {
		x := v.expires
		gi.EffectiveExpiresAt = &x
	}
	if r.sec != nil {
		gi.Secret = *r.sec
	}
	return gi
}

// List returns all grants, oldest first. See secretstore.Admin.
func (d *DB) List(ctx context.Context) ([]secretstore.GrantInfo, error) {
	all, err := d.ListGrants(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]secretstore.GrantInfo, len(all))
	for i, gi := range all {
		out[i] = gi.GrantInfo
	}
	return out, nil
}

// ListGrants returns the grants of app, or all grants when app is "",
// oldest first, each with its app.
func (d *DB) ListGrants(ctx context.Context, app string) ([]GrantInfo, error) {
	load := d.loadAll
	if app != "" {
		load = func(ctx context.Context) ([]*row, map[string]*row, error) { return d.loadApp(ctx, app) }
	}
	all, byID, err := load(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]GrantInfo, 0, len(all))
	for _, r := range all {
		if app != "" && r.app != app {
			continue
		}
		out = append(out, GrantInfo{GrantInfo: r.info(evaluate(r, lookupIn(byID)), now), App: r.app})
	}
	return out, nil
}

// loadAll reads every grant with its secret, oldest first. Evaluating a
// grant needs its ancestors, so filters apply after loading.
func (d *DB) loadAll(ctx context.Context) ([]*row, map[string]*row, error) {
	return d.loadRows(ctx, `SELECT `+rowCols+`
		FROM grants g LEFT JOIN secrets s ON s.id = g.secret_id
		ORDER BY g.created_at, g.id`)
}

// loadApp reads the grants of app with their secrets, oldest first, in
// SQL (the grants_app index): a clone belongs to its parent's app, so
// every ancestor of an app's grant is among them.
func (d *DB) loadApp(ctx context.Context, app string) ([]*row, map[string]*row, error) {
	return d.loadRows(ctx, d.q(`SELECT `+rowCols+`
		FROM grants g LEFT JOIN secrets s ON s.id = g.secret_id
		WHERE g.app = ? ORDER BY g.created_at, g.id`), app)
}

func (d *DB) loadRows(ctx context.Context, query string, args ...any) ([]*row, map[string]*row, error) {
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, unavailable(err)
	}
	defer rows.Close()
	var all []*row
	byID := make(map[string]*row)
	for rows.Next() {
		r, err := d.scanRow(rows)
		if err != nil {
			return nil, nil, unavailable(err)
		}
		all = append(all, r)
		byID[r.g.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, nil, unavailable(err)
	}
	return all, byID, nil
}

func lookupIn(byID map[string]*row) func(string) *row {
	return func(id string) *row { return byID[id] }
}

// maxDepthSQL is grant.MaxCloneDepth as a SQL literal.
var maxDepthSQL = strconv.Itoa(grant.MaxCloneDepth)

// chainQuery selects a grant and its ancestors (depth 0 is the grant) with
// their secrets in one statement.
var chainQuery = `WITH RECURSIVE chain(id, depth) AS (
		SELECT id, 0 FROM grants WHERE id = ?
		UNION ALL
		SELECT g.parent, c.depth + 1 FROM grants g JOIN chain c ON g.id = c.id
		WHERE g.parent IS NOT NULL AND c.depth < ` + maxDepthSQL + ` -- grant.MaxCloneDepth: evaluate needs depths 0..MaxCloneDepth
	)
	SELECT ` + rowCols + `
	FROM chain c JOIN grants g ON g.id = c.id LEFT JOIN secrets s ON s.id = g.secret_id
	ORDER BY c.depth`

// loadChain returns the grant and a lookup over its ancestors; nil if the
// grant does not exist. q is the pool or a write transaction.
func (d *DB) loadChain(ctx context.Context, q querier, id string) (*row, func(string) *row, error) {
	rows, err := q.QueryContext(ctx, d.q(chainQuery), id)
	if err != nil {
		return nil, nil, unavailable(err)
	}
	defer rows.Close()
	var first *row
	byID := make(map[string]*row)
	for rows.Next() {
		r, err := d.scanRow(rows)
		if err != nil {
			return nil, nil, unavailable(err)
		}
		if first == nil {
			first = r
		}
		byID[r.g.ID] = r
	}
	if err := rows.Err(); err != nil {
		return nil, nil, unavailable(err)
	}
	return first, lookupIn(byID), nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Get returns one grant or an error wrapping ErrNotFound.
func (d *DB) Get(ctx context.Context, grantID string) (secretstore.GrantInfo, error) {
	gi, err := d.GetGrant(ctx, grantID)
	return gi.GrantInfo, err
}

// GetGrant returns one grant with its app, or an error wrapping ErrNotFound.
func (d *DB) GetGrant(ctx context.Context, grantID string) (GrantInfo, error) {
	r, lookup, err := d.loadChain(ctx, d.db, grantID)
	if err != nil {
		return GrantInfo{}, err
	}
	if r == nil {
		return GrantInfo{}, notFound(grantID)
	}
	return GrantInfo{GrantInfo: r.info(evaluate(r, lookup), time.Now()), App: r.app}, nil
}

// Resolve opens a usable grant. See Storage. Unknown, revoked and expired
// grants are refused before the secret is opened.
func (d *DB) Resolve(ctx context.Context, grantID string, now time.Time) (*secretstore.Resolved, error) {
	res, _, _, err := d.resolve(ctx, grantID, now, nil)
	return res, err
}

// resolve is Resolve, and when app is not nil it also refuses, exactly as
// an unknown grant, a grant that belongs to another app (or to none). The
// app is compared before anything else, so another app's grant cannot be
// told from an unknown one even when it is broken.
func (d *DB) resolve(ctx context.Context, grantID string, now time.Time, app *string) (*secretstore.Resolved, *row, eval, error) {
	r, lookup, err := d.loadChain(ctx, d.db, grantID)
	if err != nil {
		return nil, nil, eval{}, err
	}
	if r == nil || (app != nil && (*app == "" || r.app != *app)) {
		return nil, nil, eval{}, secretstore.ErrGrantUnavailable
	}
	v := evaluate(r, lookup)
	switch {
	case v.problem != nil:
		return nil, nil, eval{}, fmt.Errorf("%w: grant %s: %v", secretstore.ErrStoreUnavailable, grantID, v.problem)
	case v.unavailable, !v.expires.IsZero() && !now.Before(v.expires):
		return nil, nil, eval{}, secretstore.ErrGrantUnavailable
	}
	inj, err := inject.Compile(r.sec.Spec)
	if err != nil {
		return nil, nil, eval{}, fmt.Errorf("%w: secret %s: stored spec: %v", secretstore.ErrStoreUnavailable, r.sec.ID, err)
	}
	fields, err := d.sealer.Open(r.sec.ID, r.sec.KeyID, r.sealed)
	if err != nil {
		return nil, nil, eval{}, unavailable(fmt.Errorf("secret %s: %w", r.sec.ID, err))
	}
	if err := inj.CheckFields(fields); err != nil {
		return nil, nil, eval{}, fmt.Errorf("%w: secret %s: %v", secretstore.ErrStoreUnavailable, r.sec.ID, err)
	}
	return &secretstore.Resolved{Grant: r.g, Secret: *r.sec, Policy: v.effective, Injector: inj, Fields: fields}, r, v, nil
}

func micro(t time.Time) int64      { return t.UnixMicro() }
func fromMicro(us int64) time.Time { return time.UnixMicro(us).UTC() }
