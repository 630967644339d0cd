-- Login-email limits (auth/send_limits.rs): one row per network and per email address that asked for a
-- login email in the last hour. A request upserts its rows inside the transaction that writes its token,
-- so parallel requests for the same address or network take turns counting: none slips past a limit.
-- Rows untouched for an hour are deleted by the hourly sweep.
CREATE TABLE login_send_locks (
    subject TEXT PRIMARY KEY,
    touched_at BIGINT NOT NULL
);
CREATE INDEX login_tokens_by_email_ip ON login_tokens (email_normalized, client_ip, created_at);
