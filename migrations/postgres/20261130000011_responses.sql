-- Responses made through Gatehouse's OpenAI Responses API (`/v1/responses`), remembered with the account
-- that made them: retrieving, deleting or cancelling one, listing its input items or continuing from it
-- (`previous_response_id`) is allowed to that account only; any other account gets 404 and nothing is
-- forwarded. For a Claude model Gatehouse writes the response itself (translated from the Messages API),
-- so it keeps the response object, the request's input items and the whole conversation through this
-- response (what `previous_response_id` continues from). Rows older than 30 days are deleted.
CREATE TABLE responses (
    id TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    model TEXT NOT NULL,
    body TEXT,
    input_items TEXT,
    conversation TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX responses_by_time ON responses (created_at);
