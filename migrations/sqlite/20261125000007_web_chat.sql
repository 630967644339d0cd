-- Web chat: each person's conversations and their messages. A reply is written as 'pending' when asked
-- for, 'streaming' while its one upstream call runs, then 'done', 'stopped' (the person pressed Stop) or
-- 'failed' (with the error shown in the conversation). Thinking is kept apart from the answer.
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    model TEXT NOT NULL,
    thinking INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX conversations_by_user ON conversations (user_id, updated_at);

CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL DEFAULT '',
    thinking TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    thinking_on INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('done', 'pending', 'streaming', 'stopped', 'failed')),
    error TEXT,
    -- The error is one Billing can fix (balance, rate limit): the conversation links there.
    error_billing INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE INDEX chat_messages_by_conversation ON chat_messages (conversation_id, id);
