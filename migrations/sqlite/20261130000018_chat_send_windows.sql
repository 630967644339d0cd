-- Web chat messages each account sent in the current minute (domain/chat.rs): kept apart from the messages,
-- so deleting conversations does not reset the count. One row per account.
CREATE TABLE chat_send_windows (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    window_start BIGINT NOT NULL,
    sent BIGINT NOT NULL
);
