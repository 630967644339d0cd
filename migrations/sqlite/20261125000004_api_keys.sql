-- API keys: only each key's SHA-256 is stored; `prefix` is what lists show. Spent is in 1e-9 USD.
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    spend_cap BIGINT,
    models TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    last_used_at BIGINT,
    used_times BIGINT NOT NULL DEFAULT 0,
    spent BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_by_user ON api_keys (user_id);
