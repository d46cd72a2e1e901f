-- Rates and quotas counted for every sidecar of an app (issue 18). The
-- server hands out small leases of uses; each use it grants is a row of
-- rate_uses (a sliding log per grant, and per actor for per-actor
-- limits) and a count in rate_quotas (per calendar period). Rows older
-- than the longest window (an hour) or an ended period are deleted as
-- the same key is counted again.
CREATE TABLE rate_uses (
  limit_key TEXT NOT NULL,
  at_us BIGINT NOT NULL
);
CREATE INDEX rate_uses_key_at ON rate_uses (limit_key, at_us);
CREATE TABLE rate_quotas (
  limit_key TEXT NOT NULL,
  period_start_us BIGINT NOT NULL,
  n BIGINT NOT NULL,
  PRIMARY KEY (limit_key, period_start_us)
);
