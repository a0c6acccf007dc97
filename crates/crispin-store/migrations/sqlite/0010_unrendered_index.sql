-- Every open looks for blobs stored before ENVELOPE/BODYSTRUCTURE were
-- pre-rendered (imap IS NULL). New rows always have it, so this index stays
-- empty and that look costs nothing; without it, each open (every one-shot
-- `crispin deliver` too) scanned the whole table: 4.4 s at 50,000 messages.
CREATE INDEX IF NOT EXISTS blobs_unrendered ON blobs (account_id) WHERE imap IS NULL;
