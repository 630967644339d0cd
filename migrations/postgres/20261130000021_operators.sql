-- Operators: the operator role (besides ADMIN_EMAILS), disabled accounts and redemption codes, and the append-only log of every
-- operator action (who, when, what, why).
ALTER TABLE users ADD COLUMN is_operator INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
-- An operator can stop a redemption code batch's codes before they are used up.
ALTER TABLE redemption_codes ADD COLUMN disabled_at BIGINT;

CREATE TABLE operator_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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

CREATE FUNCTION operator_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'operator_log is append-only';
END;
$$;
CREATE TRIGGER operator_log_no_change BEFORE UPDATE OR DELETE ON operator_log
    FOR EACH ROW EXECUTE FUNCTION operator_log_append_only();

-- The admin dashboard reads the whole server's calls of the last days.
CREATE INDEX bills_by_time ON bills (created_at);
