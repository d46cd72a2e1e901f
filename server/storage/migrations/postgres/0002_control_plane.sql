-- The control plane: grants belong to an app (whose sidecar tokens may
-- resolve them), grant, secret and token rows carry an integrity code (an
-- HMAC over their security-relevant columns, hex; see integrity.go) so an
-- edit made directly in the database fails closed, and API tokens are
-- stored as SHA-256 digests. Rows written before this migration have an
-- empty mac and are unusable until re-created: there was no release
-- before it.

ALTER TABLE grants ADD COLUMN app TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN mac TEXT NOT NULL DEFAULT '';
ALTER TABLE secrets ADD COLUMN mac TEXT NOT NULL DEFAULT '';
CREATE INDEX grants_app ON grants (app, created_at, id);
CREATE INDEX changes_grant ON changes (grant_id, seq);

-- The integrity key: 32 random bytes sealed by the server's keyring, made
-- once by the first server that opens the database. Only a holder of the
-- master key can read it, so only alter can write a row that verifies.
CREATE TABLE integrity_key (
	id     INTEGER PRIMARY KEY CHECK (id = 1),
	key_id TEXT    NOT NULL,
	sealed BYTEA   NOT NULL
);

CREATE TABLE tokens (
	id         TEXT   PRIMARY KEY,
	kind       TEXT   NOT NULL,          -- admin or sidecar
	name       TEXT   NOT NULL,
	app        TEXT   NOT NULL DEFAULT '', -- sidecar tokens only
	digest     TEXT   NOT NULL UNIQUE,   -- hex SHA-256 of the token; the token is never stored
	created_at BIGINT NOT NULL,
	revoked_at BIGINT,
	mac        TEXT   NOT NULL
);
