-- Money: balances, the append-only ledger, resource packages, call bills, holds, top-ups and redemption codes.
-- Amounts are BIGINT units of 1e-9 USD; times are unix milliseconds.
ALTER TABLE users ADD COLUMN balance BIGINT NOT NULL DEFAULT 0;
-- Paid top-ups so far, in minor units (cents/fen) of the top-up currency: sets the rate-limit tier.
ALTER TABLE users ADD COLUMN paid_topups_minor BIGINT NOT NULL DEFAULT 0;

-- One row per idempotent money operation; replaying a key returns `result`.
CREATE TABLE money_operations (
    idempotency_key TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE packages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    scope TEXT NOT NULL,
    original BIGINT NOT NULL CHECK (original > 0),
    remaining BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= original),
    granted_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    source TEXT NOT NULL,
    operation_key TEXT NOT NULL
);
CREATE INDEX packages_by_user ON packages (user_id, expires_at);

CREATE TABLE bills (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    request_key TEXT NOT NULL UNIQUE,
    api_key_id BIGINT,
    key_name TEXT,
    channel TEXT NOT NULL,
    model TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cache_write_5m_tokens BIGINT NOT NULL,
    cache_write_1h_tokens BIGINT NOT NULL,
    cache_read_tokens BIGINT NOT NULL,
    official_cost BIGINT NOT NULL,
    packages_paid BIGINT NOT NULL,
    balance_paid BIGINT NOT NULL,
    multiplier TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX bills_by_user ON bills (user_id, created_at);

CREATE TABLE ledger_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL UNIQUE,
    operation_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    balance_delta BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    package_id BIGINT REFERENCES packages (id),
    package_delta BIGINT NOT NULL,
    bill_id BIGINT REFERENCES bills (id),
    memo TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_by_user ON ledger_entries (user_id, created_at);
CREATE INDEX ledger_by_package ON ledger_entries (package_id);

-- Funds reserved for calls in flight. Closed by settle, release, or the stale-hold sweeper.
CREATE TABLE holds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    request_key TEXT NOT NULL UNIQUE,
    balance_amount BIGINT NOT NULL,
    package_amount BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    closed_at BIGINT,
    outcome TEXT
);
CREATE INDEX holds_open ON holds (user_id, closed_at);

CREATE TABLE topups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    usd_amount BIGINT NOT NULL,
    checkout_session_id TEXT UNIQUE,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    paid_at BIGINT
);
CREATE INDEX topups_by_user ON topups (user_id, created_at);

CREATE TABLE stripe_events (
    event_id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE redemption_codes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code_hash TEXT NOT NULL UNIQUE,
    code_hint TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    max_uses BIGINT NOT NULL CHECK (max_uses > 0),
    uses BIGINT NOT NULL DEFAULT 0 CHECK (uses <= max_uses),
    expires_at BIGINT,
    note TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE redemptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code_id BIGINT NOT NULL REFERENCES redemption_codes (id),
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    UNIQUE (code_id, user_id)
);
