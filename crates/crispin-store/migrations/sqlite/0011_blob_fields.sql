-- The header fields mail clients list messages by (ingest::LISTED), cut
-- from each header at ingest, keyed by the blob's rowid: a whole-mailbox
-- FETCH of them walks this narrow table instead of every blob row. `tag`
-- is the content hash's first 64 bits (a rowid can be used again). Blobs
-- stored before this table have no row; FETCH reads their header instead.
CREATE TABLE blob_fields (
    account_id INTEGER NOT NULL,
    blob INTEGER PRIMARY KEY,
    tag INTEGER NOT NULL,
    fields BLOB NOT NULL
);
