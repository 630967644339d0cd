-- The referral program: each account's invite code, visits to /i/CODE, acknowledgements of the invite
-- notes, and referrals (inviter, invitee, status). Times are unix milliseconds.
CREATE TABLE invite_codes (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code TEXT NOT NULL UNIQUE,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- One row per visitor (hash of IP and user agent) per code per day.
CREATE TABLE invite_visits (
    code TEXT NOT NULL,
    visitor_hash TEXT NOT NULL,
    day BIGINT NOT NULL,
    PRIMARY KEY (code, visitor_hash, day)
);

-- "I Understand" on /i/CODE: which notes were acknowledged, when. The token travels through login.
CREATE TABLE invite_acks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    code TEXT NOT NULL,
    notes_version TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

ALTER TABLE login_tokens ADD COLUMN invite_ack_id BIGINT;

CREATE TABLE referrals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    inviter_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    invitee_id BIGINT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    ack_id BIGINT,
    via TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    invitee_ip TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX referrals_by_inviter ON referrals (inviter_id, created_at);
CREATE INDEX referrals_by_ip ON referrals (invitee_ip, created_at);
