-- PLACEHOLDER, not for merging: version 5 belongs to another branch, and
-- migrations must be numbered without gaps. This file only lets the
-- ctx18 branch (0006_call_context.sql) run on its own; drop it when the
-- real 0005 is merged (two version-5 files fail every storage test).
SELECT 1;
