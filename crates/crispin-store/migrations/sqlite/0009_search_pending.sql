-- The trigram index trails the blobs: writing it row by row cost about a
-- third of every commit, and mail that is deleted soon after it arrives
-- (drafts, filters) never needs it. Blobs whose index entry is still to be
-- written (op 1), removed (op 0) or replaced (op 2: a reused rowid whose
-- old entry is still there) wait here, are written out a few hundred at a
-- time, and SEARCH reads them directly meanwhile.
CREATE TABLE search_pending (
    blob INTEGER PRIMARY KEY,
    op INTEGER NOT NULL
);
