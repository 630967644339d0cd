-- Each saved price version names the version its editor started from (0: the configuration's prices). One
-- version can have one successor, so two operators saving from the same page do not silently undo each other.
ALTER TABLE price_versions ADD COLUMN parent BIGINT;
CREATE UNIQUE INDEX price_versions_by_parent ON price_versions (parent);
-- The account page lists what operators did to one account.
CREATE INDEX operator_log_by_target ON operator_log (target, id);
