-- Most ledger entries (calls paid from the balance, top-ups, grants) name no package: index only those that do,
-- one index entry fewer for each of them.
DROP INDEX ledger_by_package;
CREATE INDEX ledger_by_package ON ledger_entries (package_id) WHERE package_id IS NOT NULL;
