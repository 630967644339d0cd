-- Operators: the operator role (besides ADMIN_EMAILS), disabled accounts and redemption codes, and the append-only log of every
-- operator action (who, when, what, why).
ALTER TABLE users ADD COLUMN is_operator INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
-- An operator can stop a redemption code batch's codes before they are used up.
ALTER TABLE redemption_codes ADD COLUMN disabled_at BIGINT;

CREATE TABLE operator_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The operator's email, or `cli` for the command line.
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    -- What it was done to: an account's email, a referral id, an invite code ...
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX operator_log_by_time ON operator_log (created_at);

CREATE TRIGGER operator_log_no_update BEFORE UPDATE ON operator_log
BEGIN
    SELECT RAISE(ABORT, 'operator_log is append-only');
END;
CREATE TRIGGER operator_log_no_delete BEFORE DELETE ON operator_log
BEGIN
    SELECT RAISE(ABORT, 'operator_log is append-only');
END;

-- The admin dashboard reads the whole server's calls of the last days.
CREATE INDEX bills_by_time ON bills (created_at);
