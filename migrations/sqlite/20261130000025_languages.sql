-- Languages: the account's chosen language (its emails are written in it), and which language's invite notes
-- an acknowledgement showed (the notes are versioned per language).
ALTER TABLE users ADD COLUMN locale TEXT;
ALTER TABLE invite_acks ADD COLUMN notes_locale TEXT NOT NULL DEFAULT 'en';
