-- Small messages live in the database: one fsync (the commit's) covers
-- them, where a file needs its own and its directory's.
CREATE TABLE blob_data (
    account_id INTEGER NOT NULL,
    hash TEXT NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (account_id, hash)
);
