-- Forwarding the audit trail to SIEMs (server/auditforward) reads it in
-- commit order, and seq is not that order here: a transaction takes its
-- sequence value when it inserts, so one holding 10 may commit after one
-- holding 11, and a reader whose cursor passed 11 would never see 10.
-- xid is the inserting transaction's id. Every transaction whose id is
-- below the oldest one still running is over, so a reader that goes by
-- (xid, seq) and stops below that horizon never skips a record that
-- commits later (storage.AuditAfter). Rows already here get this
-- migration's id: they are all committed, in seq order among themselves.
ALTER TABLE audit ADD COLUMN xid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX audit_xid ON audit (xid, seq);

-- One row per forwarding target: how far it has been acknowledged, and
-- the replica that holds its lease (one sender per target at a time).
CREATE TABLE audit_forward (
	name         TEXT   PRIMARY KEY,
	after_xid    BIGINT NOT NULL DEFAULT 0,
	after_seq    BIGINT NOT NULL DEFAULT 0,
	holder       TEXT   NOT NULL DEFAULT '',
	lease_until  BIGINT NOT NULL DEFAULT 0,
	forwarded_at BIGINT NOT NULL DEFAULT 0
);
