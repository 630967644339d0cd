-- Visits to /i/CODE older than a week are folded into their code's count and their rows deleted
-- (domain/referral.rs, fold_old_visits), so unauthenticated visits cannot grow a table without bound.
ALTER TABLE invite_codes ADD COLUMN visits_folded BIGINT NOT NULL DEFAULT 0;
