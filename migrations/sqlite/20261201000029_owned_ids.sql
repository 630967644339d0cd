-- Ids the OpenAI upstream made for an account through Gatehouse and keeps for it: conversations
-- (`/v1/conversations`) and stored chat completions (`store: true`). Retrieving, changing, deleting or
-- listing one is allowed to that account only; any other account gets 404 and nothing is forwarded. Lists
-- are read from here (the upstream's lists hold every account's). `model` routes a stored completion to
-- the provider serving it; `metadata` (a JSON object) is what the Store's list filters on.
CREATE TABLE owned_ids (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    model TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX owned_ids_by_account ON owned_ids (user_id, kind, created_at);
