-- One row per batch of redemption codes made from the admin console, by the form's key: a form sent twice
-- makes one batch.
CREATE TABLE code_batches (
    batch_key TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
