-- Forwarding the audit trail to SIEMs (server/auditforward) reads it in
-- commit order. SQLite has one writer at a time (every transaction is
-- BEGIN IMMEDIATE), so seq is that order and xid is always 0; the column
-- exists so both engines page by (xid, seq) alike (see the PostgreSQL
-- migration for why it matters there).
ALTER TABLE audit ADD COLUMN xid INTEGER NOT NULL DEFAULT 0;
CREATE INDEX audit_xid ON audit (xid, seq);

-- One row per forwarding target: how far it has been acknowledged, and
-- the replica that holds its lease (one sender per target at a time).
CREATE TABLE audit_forward (
	name         TEXT    PRIMARY KEY,
	after_xid    INTEGER NOT NULL DEFAULT 0,
	after_seq    INTEGER NOT NULL DEFAULT 0,
	holder       TEXT    NOT NULL DEFAULT '',
	lease_until  INTEGER NOT NULL DEFAULT 0,
	forwarded_at INTEGER NOT NULL DEFAULT 0
);
