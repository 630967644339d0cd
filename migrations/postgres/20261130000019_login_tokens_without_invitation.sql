-- Invitations travel in the browser's own cookie (gh_invite_ack) since 20261130000013; links no longer carry one.
ALTER TABLE login_tokens DROP COLUMN invite_ack_id;
