-- The call context of an audit record (X-Alter-Run-Id and X-Alter-Tool,
-- as the sidecar recorded them), copied out of the body like grant_id and
-- actor so the trail can be filtered on them. Records shipped before
-- sidecars wrote a call context have none: the empty default is their
-- true value, so nothing is backfilled.
ALTER TABLE audit ADD COLUMN run_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN tool TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_run ON audit (run_id, at, seq);
CREATE INDEX audit_tool ON audit (tool, at, seq);
