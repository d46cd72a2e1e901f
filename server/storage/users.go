package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/alter-sidecar/alter/audit"
)

// Portal users. A user is a name and a password hash. The hash is made and
// checked by the caller (server/portal's HashPassword and CheckPassword,
// argon2id): this package stores the string and keeps it honest with the
// row's mac, so a hash swapped in the database (to one whose password the
// attacker knows) fails closed instead of logging them in.

// ErrUserNotFound: no user has that name.
var ErrUserNotFound = errors.New("user not found")

// ErrUserExists: CreateUser was given a name already taken.
var ErrUserExists = errors.New("user already exists")

// User describes a portal user; never the password hash.
type User struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
}

// userName: letters, digits and . _ @ -, up to 64, starting with a letter
// or digit. No spaces, so a user's session subject never looks like a
// token login's ("token NAME").
var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// maxHash bounds a stored hash; an argon2id PHC string is about 100 bytes.
const maxHash = 512

func checkUserName(name string) error {
	if !userName.MatchString(name) {
		return invalid("user name: 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit")
	}
	return nil
}

func checkHash(hash string) error {
	// The format is the caller's (server/portal checks it on every login);
	// here only that it is a PHC-style string and not, say, a password.
	if !strings.HasPrefix(hash, "$") || len(hash) > maxHash || strings.ContainsAny(hash, " \t\r\n\x00") {
		return invalid("password hash: want a PHC string ($argon2id$...)")
	}
	return nil
}

// CreateUser stores a user with an already-made password hash. A taken name
// wraps ErrUserExists; a bad name or hash, secretstore.ErrInvalid.
func (d *DB) CreateUser(ctx context.Context, name, passwordHash string) (User, error) {
	if err := checkUserName(name); err != nil {
		return User{}, err
	}
	if err := checkHash(passwordHash); err != nil {
		return User{}, err
	}
	u := User{ID: uuid.NewString(), Name: name, CreatedAt: now()}
	err := d.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, d.q(`SELECT COUNT(*) FROM users WHERE name = ?`), name).Scan(&n); err != nil {
			return unavailable(err)
		}
		if n > 0 {
			return fmt.Errorf("user %s: %w", name, ErrUserExists)
		}
		if _, err := tx.ExecContext(ctx, d.q(`INSERT INTO users (id, name, password_hash, created_at, mac) VALUES (?, ?, ?, ?, ?)`),
			u.ID, u.Name, passwordHash, micro(u.CreatedAt), d.userSum(u, passwordHash)); err != nil {
			return unavailable(err)
		}
		return d.insertAuditTx(ctx, tx, ServerEvent{Event: audit.EventUserAdd, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), Target: u.Name, Time: u.CreatedAt}.Record())
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

const userCols = `id, name, password_hash, created_at, disabled_at, mac`

func scanUser(sc scanner) (User, string, string, error) {
	var u User
	var hash, mac string
	var created int64
	var disabled sql.NullInt64
	if err := sc.Scan(&u.ID, &u.Name, &hash, &created, &disabled, &mac); err != nil {
		return User{}, "", "", err
	}
	u.CreatedAt = fromMicro(created)
	if disabled.Valid {
		x := fromMicro(disabled.Int64)
		u.DisabledAt = &x
	}
	return u, hash, mac, nil
}

// UserHash returns a user and their password hash, for checking a login.
// It returns disabled users too (with DisabledAt set): the caller checks
// the password anyway, so a disabled account costs the same as a live one.
// An unknown name wraps ErrUserNotFound; a row that fails its integrity
// check wraps secretstore.ErrStoreUnavailable and must not log anyone in.
func (d *DB) UserHash(ctx context.Context, name string) (User, string, error) {
	if checkUserName(name) != nil {
		return User{}, "", fmt.Errorf("user: %w", ErrUserNotFound) // never stored, so not found
	}
	u, hash, mac, err := scanUser(d.db.QueryRowContext(ctx, d.q(`SELECT `+userCols+` FROM users WHERE name = ?`), name))
	if isNoRows(err) {
		return User{}, "", fmt.Errorf("user %s: %w", name, ErrUserNotFound)
	}
	if err != nil {
		return User{}, "", unavailable(err)
	}
	if err := verify(mac, d.userSum(u, hash)); err != nil {
		return User{}, "", fmt.Errorf("user %s: %w", name, unavailable(err))
	}
	return u, hash, nil
}

// ListUsers returns every user, disabled ones included, oldest first. Rows
// that fail their integrity check are left out: they log nobody in.
func (d *DB) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, unavailable(err)
	}
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, hash, mac, err := scanUser(rows)
		if err != nil {
			return nil, unavailable(err)
		}
		if verify(mac, d.userSum(u, hash)) == nil {
			out = append(out, u)
		}
	}
	return out, unavailable(rows.Err())
}

// DisableUser disables a user at once, on every replica, and ends their
// portal sessions (those whose subject is the user's name, as the portal
// names password logins) in the same transaction. Disabling twice is not
// an error. An unknown name wraps ErrUserNotFound.
func (d *DB) DisableUser(ctx context.Context, name string) (User, error) {
	var out User
	err := d.write(ctx, func(tx *sql.Tx) error {
		u, hash, mac, err := scanUser(tx.QueryRowContext(ctx, d.q(`SELECT `+userCols+` FROM users WHERE name = ?`), name))
		if isNoRows(err) {
			return fmt.Errorf("user %s: %w", name, ErrUserNotFound)
		}
		if err != nil {
			return unavailable(err)
		}
		if verify(mac, d.userSum(u, hash)) != nil {
			// Already refused at login; re-signing would bless the edit.
			return fmt.Errorf("user %s: %w", name, unavailable(errTampered))
		}
		if u.DisabledAt == nil {
			x := now()
			u.DisabledAt = &x
			if _, err := tx.ExecContext(ctx, d.q(`UPDATE users SET disabled_at = ?, mac = ? WHERE id = ?`),
				micro(x), d.userSum(u, hash), u.ID); err != nil {
				return unavailable(err)
			}
			if err := d.insertAuditTx(ctx, tx, ServerEvent{Event: audit.EventUserDisable, Actor: actorOf(ctx), ActorID: actorIDOf(ctx), Target: u.Name, Time: x}.Record()); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, d.q(`DELETE FROM portal_sessions WHERE subject = ?`), u.Name); err != nil {
			return unavailable(err)
		}
		out = u
		return nil
	})
	return out, err
}

func (d *DB) userSum(u User, hash string) string {
	disabled := ""
	if u.DisabledAt != nil {
		disabled = strconv.FormatInt(micro(*u.DisabledAt), 10)
	}
	return d.sum(macUser, u.ID, u.Name, hash, strconv.FormatInt(micro(u.CreatedAt), 10), disabled)
}
