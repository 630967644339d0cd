-- A resumed follow bills the hosted web searches its call was allowed, as the first instance would have.
ALTER TABLE background_follows ADD COLUMN max_web_searches BIGINT NOT NULL DEFAULT 0;
