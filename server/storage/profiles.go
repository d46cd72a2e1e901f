package storage

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/alter-sidecar/alter/profile"
	"github.com/alter-sidecar/alter/secretstore"
	"github.com/alter-sidecar/alter/server/wire"
)

// Profiles: the file store's model (package profile, secretstore's
// profiles.go) kept in the database, with an app. A profile belongs to one
// app: all its grants are of that app, and only that app's sidecar tokens
// can look it up. Only the token's SHA-256 is stored (hex, like API
// tokens); lookup is by digest (an index on a hash reveals nothing about a
// token through timing) and the found digest is compared in constant time.
// Rows carry a mac (integrity.go): a row edited in the database is listed
// as unusable and resolves to ErrStoreUnavailable, never used. Every write
// records a change (kind profile) that only the app's sidecars see, so
// they drop the cached binding within a second (wait.go). The overlap
// rule (profile.CheckOverlap) is checked when a profile's grants are set
// and when a grant's policy changes (SetPolicy, profile_write.go).

// ProfileInfo is a profile as listings show it, with its app.
type ProfileInfo = wire.ProfileInfo

// ProfileBinding is what a sidecar gets for a profile: its grants and
// their own destinations.
type ProfileBinding = wire.ProfileBinding

// profileRow is a profile as stored. problem is set when the mac does not
// verify or the grants do not decode: such a row is never used or
// re-signed.
type profileRow struct {
	p         profile.Profile
	app       string
	digest    string
	rawGrants string
	problem   error
}

const profileSelect = `SELECT id, name, app, grants, deny_unmatched, revoked, digest, created_at, updated_at, mac FROM profiles`

func (d *DB) scanProfile(sc scanner) (*profileRow, error) {
	var r profileRow
	var created, updated int64
	var mac string
	if err := sc.Scan(&r.p.ID, &r.p.Name, &r.app, &r.rawGrants, &r.p.DenyUnmatched, &r.p.Revoked, &r.digest, &created, &updated, &mac); err != nil {
		return nil, err
	}
	r.p.CreatedAt, r.p.UpdatedAt = fromMicro(created), fromMicro(updated)
	if err := verify(mac, d.profileSum(r.cols())); err != nil {
		r.problem = err
	} else if err := json.Unmarshal([]byte(r.rawGrants), &r.p.Grants); err != nil {
		r.problem = fmt.Errorf("grants do not decode: %v", err)
	}
	if r.p.Grants == nil {
		r.p.Grants = []string{}
	}
	return &r, nil
}

func (r *profileRow) cols() profileCols {
	return profileCols{id: r.p.ID, name: r.p.Name, app: r.app, grants: r.rawGrants, digest: r.digest,
		denyUnmatched: r.p.DenyUnmatched, revoked: r.p.Revoked, created: micro(r.p.CreatedAt)}
}

// loadProfile returns the profile named name, or nil. q is the pool or a
// write transaction.
func (d *DB) loadProfile(ctx context.Context, q querier, name string) (*profileRow, error) {
	rows, err := q.QueryContext(ctx, d.q(profileSelect+` WHERE name = ?`), name)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, unavailable(rows.Err())
	}
	r, err := d.scanProfile(rows)
	if err != nil {
		return nil, unavailable(err)
	}
	return r, nil
}

func profileNotFound(name string) error {
	return fmt.Errorf("profile %s: %w", name, profile.ErrNotFound)
}

// ListProfiles returns the profiles of app ("" for all), revoked and
// unusable ones included, oldest first.
func (d *DB) ListProfiles(ctx context.Context, app string) ([]ProfileInfo, error) {
	query, args := profileSelect+` ORDER BY created_at, id`, []any{}
	if app != "" {
		query, args = profileSelect+` WHERE app = ? ORDER BY created_at, id`, []any{app}
	}
	rows, err := d.db.QueryContext(ctx, d.q(query), args...)
	if err != nil {
		return nil, unavailable(err)
	}
	var list []*profileRow
	for rows.Next() {
		r, err := d.scanProfile(rows)
		if err != nil {
			rows.Close()
			return nil, unavailable(err)
		}
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable(err)
	}
	out := make([]ProfileInfo, 0, len(list))
	if len(list) == 0 {
		return out, nil
	}
	load := d.loadAll
	if app != "" { // a profile's grants, and their ancestors, are of its app
		load = func(ctx context.Context) ([]*row, map[string]*row, error) { return d.loadApp(ctx, app) }
	}
	_, byID, err := load(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		out = append(out, r.info(byID, time.Now()))
	}
	return out, nil
}

// GetProfile returns one profile, or an error wrapping profile.ErrNotFound.
func (d *DB) GetProfile(ctx context.Context, name string) (ProfileInfo, error) {
	r, err := d.loadProfile(ctx, d.db, name)
	if err != nil {
		return ProfileInfo{}, err
	}
	if r == nil {
		return ProfileInfo{}, profileNotFound(name)
	}
	_, byID, err := d.loadApp(ctx, r.app) // a grant of the profile is of its app, and so are its ancestors
	if err != nil {
		return ProfileInfo{}, err
	}
	return r.info(byID, time.Now()), nil
}

// info is the listing form of a profile, its members looked up in byID.
func (r *profileRow) info(byID map[string]*row, now time.Time) ProfileInfo {
	pi := ProfileInfo{App: r.app}
	pi.Profile = r.p
	pi.Grants = append([]string{}, r.p.Grants...)
	pi.Status, pi.Members = secretstore.StatusActive, []secretstore.ProfileMember{}
	switch {
	case r.problem != nil:
		pi.Status, pi.Problem = secretstore.StatusUnusable, r.problem.Error()
	case r.p.Revoked:
		pi.Status = secretstore.StatusRevoked
	}
	lookup := lookupIn(byID)
	for _, id := range r.p.Grants {
		m := secretstore.ProfileMember{GrantID: id, Status: secretstore.StatusMissing, Destinations: []string{}}
		if g := byID[id]; g != nil && g.app == r.app {
			m.Name, m.Status = g.g.Name, g.info(evaluate(g, lookup), now).Status
			if g.problem == nil {
				m.Destinations = append(m.Destinations, g.g.Policy.Destinations...)
			}
		}
		pi.Members = append(pi.Members, m)
	}
	return pi
}

// ResolveProfileToken returns the binding of app's profile whose token has
// the SHA-256 tokenSHA256 (hex). Unknown, revoked and other apps'
// profiles are one error, ErrGrantUnavailable, as for grants; a row that
// fails its checks (or one of its grants') is ErrStoreUnavailable.
func (d *DB) ResolveProfileToken(ctx context.Context, app, tokenSHA256 string) (*ProfileBinding, error) {
	raw, err := hex.DecodeString(tokenSHA256)
	if err != nil || len(raw) != len(profile.Digest{}) || hex.EncodeToString(raw) != tokenSHA256 {
		return nil, invalid("token_sha256: want the token's SHA-256 as 64 lower-case hex digits")
	}
	rows, err := d.db.QueryContext(ctx, d.q(profileSelect+` WHERE digest = ?`), tokenSHA256)
	if err != nil {
		return nil, unavailable(err)
	}
	var r *profileRow
	if rows.Next() {
		r, err = d.scanProfile(rows)
	}
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return nil, unavailable(err)
	}
	if r == nil || subtle.ConstantTimeCompare([]byte(r.digest), []byte(tokenSHA256)) != 1 {
		return nil, secretstore.ErrGrantUnavailable
	}
	return d.bind(ctx, app, r)
}

// ResolveProfileName is ResolveProfileToken for a profile named by a
// sidecar's config (a proxy_auth client's profile), with the same errors.
func (d *DB) ResolveProfileName(ctx context.Context, app, name string) (*ProfileBinding, error) {
	r, err := d.loadProfile(ctx, d.db, name)
	if err != nil {
		return nil, err
	}
	return d.bind(ctx, app, r)
}

// bind builds a profile's binding for a sidecar of app. The app is
// compared first, so another app's profile cannot be told from an unknown
// one even when it is broken. Members are the grants' own destinations,
// revoked and expired grants included (their hosts must get the grant's
// 403, not a passthrough); a grant no longer stored reaches nothing; a
// grant that fails its checks, or is of another app, makes the profile
// unusable rather than silently smaller.
func (d *DB) bind(ctx context.Context, app string, r *profileRow) (*ProfileBinding, error) {
	switch {
	case r == nil || app == "" || r.app != app:
		return nil, secretstore.ErrGrantUnavailable
	case r.problem != nil:
		return nil, fmt.Errorf("%w: profile %s: %v", secretstore.ErrStoreUnavailable, r.p.Name, r.problem)
	case r.p.Revoked:
		return nil, secretstore.ErrGrantUnavailable
	}
	grants, err := d.grantRows(ctx, d.db, r.p.Grants)
	if err != nil {
		return nil, err
	}
	b := &ProfileBinding{ID: r.p.ID, Name: r.p.Name, DenyUnmatched: r.p.DenyUnmatched, Members: []wire.ProfileMember{}}
	for _, id := range r.p.Grants {
		g := grants[id]
		switch {
		case g == nil:
			continue
		case g.problem != nil:
			return nil, fmt.Errorf("%w: profile %s: grant %s: %v", secretstore.ErrStoreUnavailable, r.p.Name, id, g.problem)
		case g.app != app:
			return nil, fmt.Errorf("%w: profile %s: grant %s is of another app", secretstore.ErrStoreUnavailable, r.p.Name, id)
		}
		m := wire.ProfileMember{GrantID: id, Destinations: []string{}}
		for _, dst := range g.pol.Destinations() {
			m.Destinations = append(m.Destinations, dst.String()) // normalised: scheme, host and port spelled out
		}
		b.Members = append(b.Members, m)
	}
	return b, nil
}

// grantRows reads the grants of ids (at most profile.MaxGrants of them in
// any profile) by id, without their ancestors: a profile's binding uses a
// grant's own destinations.
func (d *DB) grantRows(ctx context.Context, q querier, ids []string) (map[string]*row, error) {
	if len(ids) == 0 {
		return map[string]*row{}, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.QueryContext(ctx, d.q(`SELECT `+rowCols+` FROM grants g LEFT JOIN secrets s ON s.id = g.secret_id
		WHERE g.id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`), args...)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out := make(map[string]*row, len(ids))
	for rows.Next() {
		r, err := d.scanRow(rows)
		if err != nil {
			return nil, unavailable(err)
		}
		out[r.g.ID] = r
	}
	return out, unavailable(rows.Err())
}

var _ querier = (*sql.Tx)(nil)
