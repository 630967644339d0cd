-- Images an image call made (billed per image by size and quality, or shown beside its tokens).
ALTER TABLE bills ADD COLUMN images BIGINT NOT NULL DEFAULT 0;
