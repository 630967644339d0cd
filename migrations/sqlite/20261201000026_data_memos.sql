-- A ledger entry's memo holds its data, not an English sentence: pages name the kind of entry in the reader's
-- language (see src/server/domain/ledger_memo.rs). Earlier memos are rewritten to the same shapes.
UPDATE ledger_entries SET memo = '' WHERE kind = 'welcome' AND memo = 'Welcome balance';
UPDATE ledger_entries SET memo = SUBSTR(memo, 8) WHERE kind = 'topup' AND memo LIKE 'Top-up %';
UPDATE ledger_entries
SET memo = SUBSTR(memo, 1, INSTR(memo, ' (') - 1) || ' · ' || SUBSTR(memo, INSTR(memo, ' (') + 2, LENGTH(memo) - INSTR(memo, ' (') - 2)
WHERE kind = 'topup' AND memo LIKE '% (%)';
UPDATE ledger_entries SET memo = SUBSTR(memo, 17) WHERE kind = 'redemption' AND memo LIKE 'Redemption code …%';
UPDATE ledger_entries SET memo = REPLACE(memo, ' on ', ' · ')
WHERE kind IN ('package_deduction', 'balance_charge') AND memo LIKE '% on %';
