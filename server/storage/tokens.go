package storage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/secretstore"
)

// API tokens. A token is a kind prefix and 32 random bytes (base64url, no
// padding). Only its SHA-256 digest is stored, so a copy of the database
// yields no usable token; lookup is by digest (an index on a hash reveals
// nothing about the token through timing), and the found digest is then
// compared in constant time. Rows carry a mac like grants do, so a token
// row inserted or un-revoked in the database does not authenticate.

// Token kinds and their prefixes (server/API.md; wire repeats them).
const (
	TokenAdmin   = "admin"
	TokenSidecar = "sidecar"

	prefixAdmin   = "alt_a_"
	prefixSidecar = "alt_s_"
)

// ErrUnauthenticated is the one error for a token that is unknown,
// revoked, malformed or fails its integrity check: callers must not tell
// them apart.
var ErrUnauthenticated = errors.New("token unknown or revoked")

// ErrTokenNotFound: an administrative call named a token that does not
// exist.
var ErrTokenNotFound = errors.New("token not found")

// Token describes an API token; never the token itself.
type Token struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Name      string     `json:"name"`
	App       string     `json:"app,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// PendingBy, when set, is who asked for this token, which then
	// authenticates nothing until another admin approves it
	// (ApproveToken).
	PendingBy string `json:"pending_by,omitempty"`
}

// NewToken asks for a token. App is required for sidecar tokens and
// refused for admin tokens.
type NewToken struct {
	Kind string
	Name string
	App  string
	// Pending makes a token that authenticates nothing until an admin
	// other than the one creating it (ActingAs) approves it.
	Pending bool
}

func tokenPrefix(kind string) string {
	if kind == TokenAdmin {
		return prefixAdmin
	}
	return prefixSidecar
}

func checkNewToken(n NewToken) error {
	switch n.Kind {
	case TokenAdmin:
		if n.App != "" {
			return invalid("app: admin tokens belong to no app")
		}
	case TokenSidecar:
		if n.App == "" {
			return invalid("app: a sidecar token needs the app whose grants it resolves")
		}
	default:
		return invalid("kind: want %q or %q", TokenAdmin, TokenSidecar)
	}
	if n.Name == "" {
		return invalid("name: a token needs a name")
	}
	if err := checkText("name", n.Name); err != nil {
		return err
	}
	if strings.Contains(n.Name, "/") {
		return invalid("name may not contain '/'")
	}
	return checkApp(n.App)
}

// digest is the stored form of a token.
func digest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateToken stores a new token and returns its description and the token
// itself, which is not stored and cannot be shown again.
func (d *DB) CreateToken(ctx context.Context, n NewToken) (Token, string, error) {
	if err := checkNewToken(n); err != nil {
		return Token{}, "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Token{}, "", err
	}
	secret := tokenPrefix(n.Kind) + base64.RawURLEncoding.EncodeToString(raw)
	t := Token{ID: uuid.NewString(), Kind: n.Kind, Name: n.Name, App: n.App, CreatedAt: now()}
	if n.Pending {
		t.PendingBy = actorIDOf(ctx)
	}
	dg := digest(secret)
	err := d.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO tokens (id, kind, name, app, digest, created_at, pending_by, mac)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), t.ID, t.Kind, t.Name, t.App, dg, micro(t.CreatedAt), t.PendingBy, d.tokenSum(t, dg)); err != nil {
			return unavailable(err)
		}
		// A sidecar token can resolve its app's secrets: who made one,
		// and when, belongs in the trail (server/storage/serveraudit.go).
		return d.insertAuditTx(ctx, tx, ServerEvent{Event: EventTokenCreate, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), TokenID: t.ID, App: t.App,
			Time: t.CreatedAt, Detail: map[string]string{"kind": t.Kind, "name": t.Name}}.Record())
	})
	if err != nil {
		return Token{}, "", err
	}
	return t, secret, nil
}

type actorKey struct{}

// acting is who is acting: id is the identity that rules compare (a
// token's approver must not be the token that asked for it), name what
// the audit trail shows. Token names are not unique, so the id is the
// identity and the audit body carries it too ("actor_id").
type acting struct{ id, name string }

// ActingAs returns ctx carrying who is acting, for the server audit
// records a write makes (a token's creation or revocation), with actor
// as both identity and name: the portal's "portal:<user>". Without it
// the actor is "cli (database)": the bootstrap commands, which need the
// database and the master key rather than a token.
func ActingAs(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, acting{id: actor, name: actor})
}

// ActingAsToken is ActingAs for an API token: the trail names it
// "token:<name>" (what the issue of the token chose to call it) and
// records "token:<id>" beside it, which is what rules compare.
func ActingAsToken(ctx context.Context, t Token) context.Context {
	return context.WithValue(ctx, actorKey{}, acting{id: TokenActorID(t.ID), name: TokenActor(t)})
}

// TokenActor is the audit trail's name for an API token.
func TokenActor(t Token) string { return "token:" + t.Name }

// TokenActorID is the identity of the API token id as an actor.
func TokenActorID(id string) string { return "token:" + id }

// actorOf is the name the audit trail shows for who is acting.
func actorOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(acting); ok && a.name != "" {
		return a.name
	}
	return "cli (database)"
}

// actorIDOf is the identity of who is acting.
func actorIDOf(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(acting); ok && a.id != "" {
		return a.id
	}
	return "cli (database)"
}

const tokenCols = `id, kind, name, app, digest, created_at, revoked_at, pending_by, mac`

func scanToken(sc scanner) (Token, string, string, error) {
	var t Token
	var dg, mac string
	var created int64
	var revoked sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Kind, &t.Name, &t.App, &dg, &created, &revoked, &t.PendingBy, &mac); err != nil {
		return Token{}, "", "", err
	}
	t.CreatedAt = fromMicro(created)
	if revoked.Valid {
		x := fromMicro(revoked.Int64)
		t.RevokedAt = &x
	}
	return t, dg, mac, nil
}

// AuthenticateToken returns the live token matching secret. Every refusal
// wraps ErrUnauthenticated (the wrapped detail is for the log); a database
// failure wraps secretstore.ErrStoreUnavailable.
func (d *DB) AuthenticateToken(ctx context.Context, secret string) (Token, error) {
	kind := ""
	switch {
	case strings.HasPrefix(secret, prefixAdmin):
		kind = TokenAdmin
	case strings.HasPrefix(secret, prefixSidecar):
		kind = TokenSidecar
	default:
		return Token{}, fmt.Errorf("%w: no known prefix", ErrUnauthenticated)
	}
	want := digest(secret)
	t, dg, mac, err := scanToken(d.db.QueryRowContext(ctx, d.q(`SELECT `+tokenCols+` FROM tokens WHERE digest = ?`), want))
	if isNoRows(err) {
		return Token{}, fmt.Errorf("%w: no such token", ErrUnauthenticated)
	}
	if err != nil {
		return Token{}, unavailable(err)
	}
	switch {
	case subtle.ConstantTimeCompare([]byte(dg), []byte(want)) != 1:
		return Token{}, fmt.Errorf("%w: digest mismatch", ErrUnauthenticated)
	case verify(mac, d.tokenSum(t, dg)) != nil:
		return Token{}, fmt.Errorf("%w: token %s: %v", ErrUnauthenticated, t.ID, errTampered)
	case t.RevokedAt != nil:
		return Token{}, fmt.Errorf("%w: token %s is revoked", ErrUnauthenticated, t.ID)
	case t.PendingBy != "":
		return Token{}, fmt.Errorf("%w: token %s awaits a second admin's approval", ErrUnauthenticated, t.ID)
	case t.Kind != kind:
		return Token{}, fmt.Errorf("%w: token %s: prefix does not match its kind", ErrUnauthenticated, t.ID)
	}
	return t, nil
}

// TokenLive returns nil if the token with this id exists, verifies and is
// not revoked, else an error wrapping ErrUnauthenticated (or
// secretstore.ErrStoreUnavailable when the database cannot say). Open
// change waits call it on every wake-up, so a revoked token's streams end.
func (d *DB) TokenLive(ctx context.Context, id string) error {
	t, dg, mac, err := scanToken(d.db.QueryRowContext(ctx, d.q(`SELECT `+tokenCols+` FROM tokens WHERE id = ?`), id))
	switch {
	case isNoRows(err):
		return fmt.Errorf("%w: no such token", ErrUnauthenticated)
	case err != nil:
		return unavailable(err)
	case verify(mac, d.tokenSum(t, dg)) != nil:
		return fmt.Errorf("%w: token %s: %v", ErrUnauthenticated, t.ID, errTampered)
	case t.RevokedAt != nil:
		return fmt.Errorf("%w: token %s is revoked", ErrUnauthenticated, t.ID)
	case t.PendingBy != "":
		return fmt.Errorf("%w: token %s awaits approval", ErrUnauthenticated, t.ID)
	}
	return nil
}

// ErrSameApprover: the admin approving a token is the one who asked for it.
var ErrSameApprover = errors.New("a token must be approved by an admin other than the one who asked for it")

// ApproveToken makes a pending token usable. The approver (ActingAs) must
// differ from who asked for it, or the error wraps ErrSameApprover (and
// secretstore.ErrInvalid); approving a token that is not pending, or is
// revoked, is ErrInvalid too. An unknown id wraps ErrTokenNotFound.
func (d *DB) ApproveToken(ctx context.Context, id string) (Token, error) {
	var out Token
	err := d.write(ctx, func(tx *sql.Tx) error {
		t, dg, mac, err := scanToken(tx.QueryRowContext(ctx, d.q(`SELECT `+tokenCols+` FROM tokens WHERE id = ?`), id))
		switch {
		case isNoRows(err):
			return fmt.Errorf("token %s: %w", id, ErrTokenNotFound)
		case err != nil:
			return unavailable(err)
		case verify(mac, d.tokenSum(t, dg)) != nil:
			return fmt.Errorf("token %s: %w", id, unavailable(errTampered))
		case t.RevokedAt != nil:
			return invalid("token %s is revoked", id)
		case t.PendingBy == "":
			return invalid("token %s is not waiting for approval", id)
		case t.PendingBy == actorIDOf(ctx):
			return fmt.Errorf("token %s: %w: %w", id, secretstore.ErrInvalid, ErrSameApprover)
		}
		asked := t.PendingBy
		t.PendingBy = ""
		if _, err := tx.ExecContext(ctx, d.q(`UPDATE tokens SET pending_by = '', mac = ? WHERE id = ?`), d.tokenSum(t, dg), id); err != nil {
			return unavailable(err)
		}
		out = t
		return d.insertAuditTx(ctx, tx, ServerEvent{Event: EventTokenApprove, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), TokenID: t.ID, App: t.App,
			Detail: map[string]string{"kind": t.Kind, "name": t.Name, "asked_by": asked}}.Record())
	})
	return out, err
}

// ListTokens returns every token, revoked ones included, oldest first.
// Rows that fail their integrity check are left out: they authenticate
// nothing, and their columns cannot be trusted.
func (d *DB) ListTokens(ctx context.Context) ([]Token, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		t, dg, mac, err := scanToken(rows)
		if err != nil {
			return nil, unavailable(err)
		}
		if verify(mac, d.tokenSum(t, dg)) == nil {
			out = append(out, t)
		}
	}
	return out, unavailable(rows.Err())
}

// TokenSessionSubject is the portal session subject of a login with the
// admin token named name.
func TokenSessionSubject(name string) string { return "token " + name }

// RevokeToken revokes a token at once (every request checks the database,
// and its open change waits end: see TokenLive), ends the portal sessions
// opened with it, and returns it. Revoking twice
// is not an error. An unknown id wraps ErrTokenNotFound.
func (d *DB) RevokeToken(ctx context.Context, id string) (Token, error) {
	var out Token
	err := d.write(ctx, func(tx *sql.Tx) error {
		t, dg, mac, err := scanToken(tx.QueryRowContext(ctx, d.q(`SELECT `+tokenCols+` FROM tokens WHERE id = ?`), id))
		if isNoRows(err) {
			return fmt.Errorf("token %s: %w", id, ErrTokenNotFound)
		}
		if err != nil {
			return unavailable(err)
		}
		if verify(mac, d.tokenSum(t, dg)) != nil {
			// Already refused by AuthenticateToken; re-signing would bless it.
			return fmt.Errorf("token %s: %w", id, unavailable(errTampered))
		}
		if t.RevokedAt == nil {
			x := now()
			t.RevokedAt = &x
			if _, err := tx.ExecContext(ctx, d.q(`UPDATE tokens SET revoked_at = ?, mac = ? WHERE id = ?`),
				micro(x), d.tokenSum(t, dg), id); err != nil {
				return unavailable(err)
			}
			// A change no app lists (it names no grant) that moves the
			// sequence: every replica's open long polls and event streams
			// wake, check their token again and end if it was this one.
			if err := d.recordChanges(ctx, tx, ChangeToken, []string{""}); err != nil {
				return err
			}
			if err := d.insertAuditTx(ctx, tx, ServerEvent{Event: EventTokenRevoke, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), TokenID: t.ID, App: t.App,
				Time: x, Detail: map[string]string{"kind": t.Kind, "name": t.Name}}.Record()); err != nil {
				return err
			}
		}
		// A person who logged in to the portal with this token is logged
		// out everywhere with it (the portal names such sessions "token
		// NAME"; another token of the same name loses its sessions too,
		// which only asks its holder to log in again).
		if t.Kind == TokenAdmin {
			if _, err := tx.ExecContext(ctx, d.q(`DELETE FROM portal_sessions WHERE subject = ?`), TokenSessionSubject(t.Name)); err != nil {
				return unavailable(err)
			}
		}
		out = t
		return nil
	})
	return out, err
}
