package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alter-sidecar/alter/server/storage"
)

// DBSessions is a SessionStore in the control plane's database
// (server/storage's portal_sessions table), so with several replicas of
// `alter server` on one PostgreSQL, a session made through one replica is
// accepted by every other, and a logout through any of them ends it
// everywhere. Rows are keyed by the session id's digest, as MemorySessions
// is, and carry the storage's integrity mac: a session inserted or
// extended in the database is refused like an unknown one.
//
// Each row also holds its expiry (the earlier of idle and absolute), kept
// current on every Touch. The portal checks expiry itself on every request
// (session.go); the stored expiry is a backstop that lets the database
// refuse and sweep sessions nobody comes back for: a Get past it deletes
// the row, and every Create deletes all rows already past theirs.
//
// The login rate limiter (limiter.go) is not shared: it stays per process,
// so behind N replicas an address may fail up to N times the limit per
// window. The argon2id hash keeps that slow; a shared limit would need a
// write per failed login on the shared database.
type DBSessions struct {
	store     storage.Storage
	idle, max time.Duration
	now       func() time.Time
}

// DBSessionsConfig configures DBSessions. IdleTimeout and MaxAge must be
// the portal's (Config.IdleTimeout, Config.MaxAge); zero means the same
// defaults, 30 minutes and 12 hours. Now is the clock, nil for time.Now:
// tests give it the portal's.
type DBSessionsConfig struct {
	IdleTimeout, MaxAge time.Duration
	Now                 func() time.Time
}

var _ SessionStore = (*DBSessions)(nil)

// NewDBSessions returns a SessionStore over store.
func NewDBSessions(store storage.Storage, cfg DBSessionsConfig) *DBSessions {
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &DBSessions{store: store, idle: cfg.IdleTimeout, max: cfg.MaxAge, now: cfg.Now}
}

// expires is when a session created at created and last seen at seen ends.
func (d *DBSessions) expires(created, seen time.Time) time.Time {
	idle, abs := seen.Add(d.idle), created.Add(d.max)
	if idle.Before(abs) {
		return idle
	}
	return abs
}

// Create stores s.
func (d *DBSessions) Create(ctx context.Context, s Session) error {
	return d.store.CreatePortalSession(ctx, storage.PortalSession{
		Digest: s.Digest, Subject: s.User, CSRF: s.CSRF,
		CreatedAt: s.CreatedAt, LastSeen: s.LastSeen, ExpiresAt: d.expires(s.CreatedAt, s.LastSeen),
	})
}

// Get returns the live session with digest dg. Unknown, expired and
// tampered sessions wrap ErrNoSession; a database failure is returned as
// is (the portal answers 503).
func (d *DBSessions) Get(ctx context.Context, dg string) (Session, error) {
	ps, err := d.store.GetPortalSession(ctx, dg, d.now())
	if errors.Is(err, storage.ErrSessionNotFound) {
		return Session{}, fmt.Errorf("%w: %v", ErrNoSession, err)
	}
	if err != nil {
		return Session{}, err
	}
	return Session{Digest: ps.Digest, User: ps.Subject, CSRF: ps.CSRF, CreatedAt: ps.CreatedAt, LastSeen: ps.LastSeen}, nil
}

// Touch records a request at t and moves the stored expiry with it. A
// session gone meanwhile (logged out elsewhere) is not an error: the next
// Get says so.
func (d *DBSessions) Touch(ctx context.Context, dg string, t time.Time) error {
	ps, err := d.store.GetPortalSession(ctx, dg, d.now())
	if errors.Is(err, storage.ErrSessionNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	err = d.store.TouchPortalSession(ctx, dg, t, d.expires(ps.CreatedAt, t))
	if errors.Is(err, storage.ErrSessionNotFound) {
		return nil
	}
	return err
}

// Delete removes the session; deleting an unknown one is not an error.
func (d *DBSessions) Delete(ctx context.Context, dg string) error {
	return d.store.DeletePortalSession(ctx, dg)
}
