-- Server-tool uses billed with a call (Anthropic's web search, at the price table's `tool:web_search`).
ALTER TABLE bills ADD COLUMN web_searches BIGINT NOT NULL DEFAULT 0;
