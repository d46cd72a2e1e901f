-- Sidecar tokens that wait for a second admin's approval (server setting
-- tokens.sidecar_approval): pending_by is the actor that asked for the
-- token ("token:<id>" of an admin token); empty when the token is usable.
-- It is covered by the row's integrity code whenever it is set.
ALTER TABLE tokens ADD COLUMN pending_by TEXT NOT NULL DEFAULT '';
