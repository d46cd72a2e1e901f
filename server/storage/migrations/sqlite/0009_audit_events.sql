-- The event of an audit record, copied out of the body like grant_id and
-- actor so the trail can be filtered on it: "grant_use" for every record a
-- sidecar ships, the body's "event" for the server's own records (who
-- revoked, rotated, logged in, ...).
ALTER TABLE audit ADD COLUMN event TEXT NOT NULL DEFAULT 'grant_use';
UPDATE audit SET event = COALESCE(json_extract(body, '$.event'), 'grant_use') WHERE source = 'server';
CREATE INDEX audit_event ON audit (event, at, seq);
