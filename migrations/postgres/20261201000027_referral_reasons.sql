-- Why a referral was not rewarded (or waits) is stored as a short code with its data, worded by the pages in the
-- reader's language (src/server/domain/referral.rs, `Why`). Earlier reasons, written as English sentences, are
-- rewritten to the same codes; an operator's own words stay as written.
UPDATE referrals SET reason = 'promotion_off' WHERE reason = 'the promotion was not running';
-- A rejection without an operator's words: the status says it.
UPDATE referrals SET reason = '' WHERE status = 'rejected' AND reason = 'rejected after review';
UPDATE referrals SET reason = 'same_person' WHERE reason = 'same person as the inviter';
UPDATE referrals SET reason = 'disposable:' || REPLACE(REPLACE(reason, 'disposable email domain (', ''), ')', '')
WHERE reason LIKE 'disposable email domain (%)';
UPDATE referrals
SET reason = 'relay:' || REPLACE(REPLACE(reason, 'email relay or alias service (', ''),
    '): sign up with the address it forwards to', '')
WHERE reason LIKE 'email relay or alias service (%): sign up with the address it forwards to';
UPDATE referrals
SET reason = 'not_on_list:' || REPLACE(REPLACE(reason, 'email provider not on this promotion''s list (', ''), ')', '')
WHERE reason LIKE 'email provider not on this promotion''s list (%)';
UPDATE referrals
SET reason = 'inviter_cap:' || REPLACE(REPLACE(reason, 'more than ', ''),
    ' rewarded referrals by this inviter today; held for review', '')
WHERE reason LIKE 'more than % rewarded referrals by this inviter today; held for review';
UPDATE referrals
SET reason = 'network_cap:' || REPLACE(REPLACE(reason, 'more than ', ''),
    ' rewarded sign-ups from one network today; held for review', '')
WHERE reason LIKE 'more than % rewarded sign-ups from one network today; held for review';
