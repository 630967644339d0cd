-- The price table and channel multipliers as operators edit them in the admin console: every saved version
-- is kept; the newest is in force (without one, the configuration's PRICE_TABLE and CHANNEL_MULTIPLIERS).
CREATE TABLE price_versions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    price_table TEXT NOT NULL,
    multipliers TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
