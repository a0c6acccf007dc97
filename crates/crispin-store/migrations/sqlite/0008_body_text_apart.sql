-- Decoded body text lives apart from the blob row: it is large and only
-- SEARCH BODY/TEXT reads it, while FETCH reads the small columns after it.
CREATE TABLE blob_text (
    account_id INTEGER NOT NULL,
    hash TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (account_id, hash)
);
INSERT INTO blob_text (account_id, hash, body) SELECT account_id, hash, search_body FROM blobs;
ALTER TABLE blobs DROP COLUMN search_body;
-- The rendered ENVELOPE/BODYSTRUCTURE changed format: rebuilt at open.
UPDATE blobs SET imap = NULL;
