-- Limits set on the keys page can only be tightened through the key-management API (domain/key_rights.rs).
-- Keys made before this change count as made on the page.
ALTER TABLE api_keys ADD COLUMN limits_from_page INTEGER NOT NULL DEFAULT 1;
