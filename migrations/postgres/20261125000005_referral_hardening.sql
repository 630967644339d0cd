-- Referral hardening: each invite acknowledgement is used by one account at most, and rewarded sign-ups
-- are counted per IP and day in one atomic row (the per-IP cap holds under concurrency on both databases).
ALTER TABLE invite_acks ADD COLUMN used_by BIGINT;

CREATE TABLE referral_ip_days (
    ip TEXT NOT NULL,
    day BIGINT NOT NULL,
    rewarded BIGINT NOT NULL,
    PRIMARY KEY (ip, day)
);
