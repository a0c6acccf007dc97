-- Index only the headers: a trigram index over bodies cost more at ingest
-- (several times the write time) than scanning the decoded bodies costs at
-- SEARCH time. BODY is answered by scanning, HEADER and the header half of
-- TEXT by this index.
DROP TABLE search_fts;
CREATE VIRTUAL TABLE search_fts USING fts5(
    headers, tokenize = 'trigram', content = '', contentless_delete = 1
);
INSERT INTO search_fts (rowid, headers) SELECT rowid, search_headers FROM blobs;
