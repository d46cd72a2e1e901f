-- Requests held for a person's decision (package approval), shared by
-- every replica. body is the approval.Approval as JSON; the other columns
-- repeat what queries select on. mac (integrity.go, kind "approval")
-- covers every column, so an approval approved, un-used or moved to
-- another app in the database fails closed. app is the grant's app when
-- the approval was made: a sidecar token sees only its app's approvals.
-- seq orders a grant's approvals as they were made (newest last).
CREATE TABLE approvals (
	seq        BIGSERIAL PRIMARY KEY,
	id         TEXT    NOT NULL UNIQUE,
	app        TEXT    NOT NULL,
	grant_id   TEXT    NOT NULL,
	status     TEXT    NOT NULL,
	match_key  TEXT    NOT NULL,
	created_at BIGINT  NOT NULL,
	expires_at BIGINT  NOT NULL,
	body       TEXT    NOT NULL,
	mac        TEXT    NOT NULL
);
CREATE INDEX approvals_grant ON approvals (grant_id, seq);
CREATE INDEX approvals_app ON approvals (app, seq);
CREATE INDEX approvals_expires ON approvals (expires_at);
