-- What the Bills page tells about a call besides its cost: how it ended ('complete', 'caller_left',
-- 'upstream_broke', 'stopped'), how long it took, and the request id its caller saw (x-request-id).
ALTER TABLE bills ADD COLUMN outcome TEXT NOT NULL DEFAULT 'complete';
ALTER TABLE bills ADD COLUMN latency_ms BIGINT;
ALTER TABLE bills ADD COLUMN request_id TEXT;

-- Calls refused before they ran (402: the balance cannot pay; 429: over the rate limit), so a person can
-- see why a tool failed. Nothing was charged. At most one per account and status every 10 seconds is kept
-- (the proxy drops the rest), and rows older than 30 days are deleted.
CREATE TABLE refused_calls (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_name TEXT,
    channel TEXT NOT NULL,
    model TEXT NOT NULL,
    status INTEGER NOT NULL,
    reason TEXT NOT NULL,
    request_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX refused_calls_by_user ON refused_calls (user_id, created_at);
CREATE INDEX refused_calls_by_time ON refused_calls (created_at);
