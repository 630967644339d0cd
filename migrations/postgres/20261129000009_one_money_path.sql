-- One admission path: running calls' holds live in the admission book (memory), never in a table.
DROP TABLE holds;

-- Charges the database refused for a reason retrying cannot fix, set aside so they never block other
-- charges or shutdown: listed by `gatehouse audit`, retried or dropped by `gatehouse admin unsettled`.
-- `call` is the settlement as JSON (control characters escaped, so any text a caller sent fits).
CREATE TABLE unsettled_calls (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_key TEXT NOT NULL UNIQUE,
    user_id BIGINT NOT NULL,
    call TEXT NOT NULL,
    error TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The referral package pays for Claude Code and for Claude models in web chat (the guide's promise), not
-- for GPT chats.
UPDATE packages SET scope = 'cc-omg,web-chat:claude-*' WHERE scope = 'cc-omg,web-chat';
