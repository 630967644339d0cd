-- Keys that may manage the account's keys through the key-management API (never granted by that API).
ALTER TABLE api_keys ADD COLUMN can_manage INTEGER NOT NULL DEFAULT 0;
