-- PLACEHOLDER, not for merging: version 5 belongs to another branch
-- (profiles), and migrations must be numbered without gaps. This file only
-- lets the srvappr branch (0007_approvals.sql) run on its own; drop it when
-- the real 0005 is merged (two version-5 files fail every storage test).
SELECT 1;
