-- The developer portal's users and sessions, so every replica accepts a
-- login and a session made on another. Both kinds of row carry an
-- integrity code (integrity.go): a user row whose hash was swapped, or a
-- session row inserted or extended in the database, fails closed.

-- Portal users: a name and an argon2id password hash (PHC string format,
-- made by server/portal's HashPassword; the password is never stored).
CREATE TABLE users (
	id            TEXT   PRIMARY KEY,
	name          TEXT   NOT NULL UNIQUE,
	password_hash TEXT   NOT NULL,
	created_at    BIGINT NOT NULL,
	disabled_at   BIGINT,
	mac           TEXT   NOT NULL
);

-- Portal sessions, by the hex SHA-256 of the random session id: the id
-- itself is only in the browser's cookie, so a copy of this table logs
-- nobody in. subject is who logged in, as the portal names them ("alice",
-- "token ops"). csrf is the session's synchronizer token: useless without
-- the cookie. expires_at is the earlier of the idle and absolute expiry,
-- kept current on every recorded use; rows past it are refused and swept.
CREATE TABLE portal_sessions (
	digest       TEXT   PRIMARY KEY,
	subject      TEXT   NOT NULL,
	csrf         TEXT   NOT NULL,
	created_at   BIGINT NOT NULL,
	last_seen_at BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	mac          TEXT   NOT NULL
);
CREATE INDEX portal_sessions_expires ON portal_sessions (expires_at);
CREATE INDEX portal_sessions_subject ON portal_sessions (subject);
