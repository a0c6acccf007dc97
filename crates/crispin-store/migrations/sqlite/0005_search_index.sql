-- Substring search (IMAP SEARCH semantics) through a trigram index over
-- the decoded text stored at ingest; rowid = blobs.rowid.
CREATE VIRTUAL TABLE search_fts USING fts5(
    headers, body, tokenize = 'trigram', content = '', contentless_delete = 1
);
INSERT INTO search_fts (rowid, headers, body)
    SELECT rowid, search_headers, search_body FROM blobs;
