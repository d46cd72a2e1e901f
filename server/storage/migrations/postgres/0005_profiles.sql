-- Profiles (package profile): a named set of grants of one app behind one
-- token, which a sidecar of that app looks up by the token's SHA-256 (hex,
-- digest; the token itself is never stored). grants is a JSON array of
-- grant ids. Rows carry an integrity code like grants do (integrity.go):
-- a profile widened, moved to another app, un-revoked or given another
-- digest in the database fails closed.
CREATE TABLE profiles (
	id             TEXT    PRIMARY KEY,
	name           TEXT    NOT NULL UNIQUE,
	app            TEXT    NOT NULL,
	grants         TEXT    NOT NULL,
	deny_unmatched BOOLEAN NOT NULL DEFAULT FALSE,
	revoked        BOOLEAN NOT NULL DEFAULT FALSE,
	digest         TEXT    NOT NULL UNIQUE,
	created_at     BIGINT  NOT NULL,
	updated_at     BIGINT  NOT NULL,
	mac            TEXT    NOT NULL
);
CREATE INDEX profiles_app ON profiles (app, created_at, id);

-- A profile's change names no grant (grant_id is '') but the profile and
-- its app, so the app's sidecars (and only they) hear of it.
ALTER TABLE changes ADD COLUMN profile TEXT NOT NULL DEFAULT '';
ALTER TABLE changes ADD COLUMN profile_app TEXT NOT NULL DEFAULT '';
CREATE INDEX changes_profile_app ON changes (profile_app, seq);
