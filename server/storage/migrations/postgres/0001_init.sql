-- Times are Unix microseconds (BIGINT) in both engines: portable, ordered,
-- and precise to what PostgreSQL keeps. JSON columns are TEXT so the bytes
-- stored are the bytes written.

CREATE TABLE secrets (
	id         TEXT    PRIMARY KEY,
	spec       TEXT    NOT NULL,  -- inject.Spec, JSON (no secret in it)
	provider   TEXT    NOT NULL DEFAULT '',
	fields     TEXT    NOT NULL,  -- field names only, JSON array
	version    INTEGER NOT NULL,
	key_id     TEXT    NOT NULL,
	sealed     BYTEA   NOT NULL,  -- Sealer output; never plaintext
	updated_at BIGINT  NOT NULL
);

CREATE TABLE grants (
	id         TEXT    PRIMARY KEY,
	secret_id  TEXT    NOT NULL REFERENCES secrets (id),
	name       TEXT    NOT NULL DEFAULT '',
	labels     TEXT    NOT NULL DEFAULT '[]',
	parent     TEXT    REFERENCES grants (id),
	policy     TEXT    NOT NULL,  -- policy.Spec, canonical JSON
	revoked    BOOLEAN NOT NULL DEFAULT FALSE,
	expires_at BIGINT,
	created_at BIGINT  NOT NULL,
	updated_at BIGINT  NOT NULL
);
CREATE INDEX grants_parent ON grants (parent);
CREATE INDEX grants_secret ON grants (secret_id);
CREATE INDEX grants_created ON grants (created_at, id);

CREATE TABLE changes (
	seq      BIGSERIAL PRIMARY KEY, -- never reused, even after a rollback
	at       BIGINT  NOT NULL,
	kind     TEXT    NOT NULL,
	grant_id TEXT    NOT NULL
);

CREATE TABLE audit (
	seq      BIGSERIAL PRIMARY KEY,
	id       TEXT    NOT NULL UNIQUE,
	source   TEXT    NOT NULL,
	at       BIGINT  NOT NULL,
	grant_id TEXT    NOT NULL DEFAULT '',
	actor    TEXT    NOT NULL DEFAULT '',
	decision TEXT    NOT NULL,
	body     TEXT    NOT NULL
);
CREATE INDEX audit_at ON audit (at, seq);
CREATE INDEX audit_grant ON audit (grant_id, at, seq);
CREATE INDEX audit_actor ON audit (actor, at, seq);
