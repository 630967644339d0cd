-- Background responses (Responses API, `background: true`) Gatehouse follows upstream to bill their final
-- usage. A row is written before the response's id reaches the caller and deleted once its charge is
-- committed. The instance following it touches `alive_at` at every look upstream; a row left untouched
-- (its server stopped or crashed) is claimed by one instance (compare-and-set on `alive_at`) and followed
-- again, so a background response is billed even when the server stopped while it ran. The charge's
-- request key is its idempotency key: following one again never bills it twice.
CREATE TABLE background_follows (
    response_id TEXT PRIMARY KEY,
    request_key TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    api_key_id BIGINT,
    key_name TEXT,
    channel TEXT NOT NULL,
    model TEXT NOT NULL,
    multiplier TEXT NOT NULL,
    estimated_input BIGINT NOT NULL,
    max_input BIGINT NOT NULL,
    max_output BIGINT NOT NULL,
    worst_case BIGINT NOT NULL,
    request_id TEXT,
    started_at BIGINT NOT NULL,
    alive_at BIGINT NOT NULL
);
