package storage

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Portal sessions, shared by every replica. The portal (server/portal)
// decides what a session is and when it ends; this file stores it. A row is
// keyed by the SHA-256 digest of the session id, never the id, and carries
// a mac over every column, so a session inserted or extended in the
// database is refused like an unknown one.

// ErrSessionNotFound is the one error for a session that is unknown,
// expired or fails its integrity check: callers treat them alike (the user
// logs in again).
var ErrSessionNotFound = errors.New("portal session unknown or expired")

// PortalSession is one logged-in browser of the portal.
type PortalSession struct {
	Digest    string // hex SHA-256 of the session id
	Subject   string // who logged in, as the portal names them
	CSRF      string // the session's synchronizer token
	CreatedAt time.Time
	LastSeen  time.Time
	// ExpiresAt is the earlier of the idle and the absolute expiry; the
	// session is refused from then on, and swept.
	ExpiresAt time.Time
}

// String leaves out the CSRF token.
func (s PortalSession) String() string {
	return fmt.Sprintf("portal session %.12s… of %s", s.Digest, s.Subject)
}

var sessionDigest = regexp.MustCompile(`^[0-9a-f]{64}$`)

func checkSession(s PortalSession) error {
	switch {
	case !sessionDigest.MatchString(s.Digest):
		return invalid("session digest: want 64 lowercase hex digits")
	case s.Subject == "" || len(s.Subject) > 200:
		return invalid("session subject: 1 to 200 bytes")
	case s.CSRF == "" || len(s.CSRF) > 200:
		return invalid("session csrf: 1 to 200 bytes")
	case !s.ExpiresAt.After(s.LastSeen) || s.LastSeen.Before(s.CreatedAt):
		return invalid("session times: want created <= last seen < expires")
	}
	return checkText("session subject", s.Subject)
}

// CreatePortalSession stores a new session. It also deletes sessions
// already expired at s.CreatedAt: logins are rate limited, so this bounds
// the table without a sweeper of its own.
func (d *DB) CreatePortalSession(ctx context.Context, s PortalSession) error {
	s.CreatedAt, s.LastSeen, s.ExpiresAt = trunc(s.CreatedAt), trunc(s.LastSeen), trunc(s.ExpiresAt)
	if err := checkSession(s); err != nil {
		return err
	}
	if _, err := d.DeleteExpiredPortalSessions(ctx, s.CreatedAt); err != nil {
		return err
	}
	_, err := d.db.ExecContext(ctx, d.q(`INSERT INTO portal_sessions (digest, subject, csrf, created_at, last_seen_at, expires_at, mac)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), s.Digest, s.Subject, s.CSRF, micro(s.CreatedAt), micro(s.LastSeen), micro(s.ExpiresAt), d.sessionSum(s))
	return unavailable(err)
}

const sessionCols = `digest, subject, csrf, created_at, last_seen_at, expires_at, mac`

func scanSession(sc scanner) (PortalSession, string, error) {
	var s PortalSession
	var created, seen, expires int64
	var mac string
	if err := sc.Scan(&s.Digest, &s.Subject, &s.CSRF, &created, &seen, &expires, &mac); err != nil {
		return PortalSession{}, "", err
	}
	s.CreatedAt, s.LastSeen, s.ExpiresAt = fromMicro(created), fromMicro(seen), fromMicro(expires)
	return s, mac, nil
}

// GetPortalSession returns the session with digest if it is live at now.
// Unknown, expired (deleted on the way) and tampered sessions all wrap
// ErrSessionNotFound; a database failure wraps
// secretstore.ErrStoreUnavailable.
func (d *DB) GetPortalSession(ctx context.Context, digest string, now time.Time) (PortalSession, error) {
	s, _, err := d.getSession(ctx, digest)
	if err != nil {
		return PortalSession{}, err
	}
	if !now.Before(s.ExpiresAt) {
		_ = d.DeletePortalSession(ctx, digest) // best effort: refused either way, and swept later
		return PortalSession{}, fmt.Errorf("%w: expired at %s", ErrSessionNotFound, s.ExpiresAt.Format(time.RFC3339))
	}
	return s, nil
}

func (d *DB) getSession(ctx context.Context, digest string) (PortalSession, string, error) {
	if !sessionDigest.MatchString(digest) {
		return PortalSession{}, "", fmt.Errorf("%w: malformed digest", ErrSessionNotFound)
	}
	s, mac, err := scanSession(d.db.QueryRowContext(ctx, d.q(`SELECT `+sessionCols+` FROM portal_sessions WHERE digest = ?`), digest))
	if isNoRows(err) {
		return PortalSession{}, "", ErrSessionNotFound
	}
	if err != nil {
		return PortalSession{}, "", unavailable(err)
	}
	if err := verify(mac, d.sessionSum(s)); err != nil {
		return PortalSession{}, "", fmt.Errorf("%w: %v", ErrSessionNotFound, err)
	}
	return s, mac, nil
}

// TouchPortalSession records a use of the session at seen and moves its
// expiry to expires, which the caller computes from its idle and absolute
// limits. An unknown or tampered session is left alone and wraps
// ErrSessionNotFound; a session deleted meanwhile (logout on another
// replica) stays deleted.
func (d *DB) TouchPortalSession(ctx context.Context, digest string, seen, expires time.Time) error {
	s, mac, err := d.getSession(ctx, digest)
	if err != nil {
		return err
	}
	s.LastSeen, s.ExpiresAt = trunc(seen), trunc(expires)
	if err := checkSession(s); err != nil {
		return err
	}
	// Only if the row is still the one read: a concurrent touch or delete
	// wins, and a delete is never undone.
	_, err = d.db.ExecContext(ctx, d.q(`UPDATE portal_sessions SET last_seen_at = ?, expires_at = ?, mac = ? WHERE digest = ? AND mac = ?`),
		micro(s.LastSeen), micro(s.ExpiresAt), d.sessionSum(s), digest, mac)
	return unavailable(err)
}

// DeletePortalSession deletes a session; an unknown one is not an error.
func (d *DB) DeletePortalSession(ctx context.Context, digest string) error {
	_, err := d.db.ExecContext(ctx, d.q(`DELETE FROM portal_sessions WHERE digest = ?`), digest)
	return unavailable(err)
}

// DeleteExpiredPortalSessions deletes every session expired at now and
// says how many there were.
func (d *DB) DeleteExpiredPortalSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, d.q(`DELETE FROM portal_sessions WHERE expires_at <= ?`), micro(now))
	if err != nil {
		return 0, unavailable(err)
	}
	n, err := res.RowsAffected()
	return n, unavailable(err)
}

func (d *DB) sessionSum(s PortalSession) string {
	us := func(t time.Time) string { return strconv.FormatInt(micro(t), 10) }
	return d.sum(macPortal, s.Digest, s.Subject, s.CSRF, us(s.CreatedAt), us(s.LastSeen), us(s.ExpiresAt))
}

// trunc is a time at the database's precision, so the mac made on write
// is the mac checked on read.
func trunc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
