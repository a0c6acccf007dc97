-- ENVELOPE/BODY/BODYSTRUCTURE rendered at ingest (see Rendered); rows from
-- before are filled in when the store opens.
ALTER TABLE blobs ADD COLUMN imap BLOB;
