-- Every table leads with account_id so that the data can later be
-- distributed by account; no query joins across accounts.

CREATE TABLE accounts (
    account_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    scram_sha256 TEXT
);

CREATE TABLE mailboxes (
    account_id INTEGER NOT NULL,
    mailbox_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    special_use TEXT,
    uid_validity INTEGER NOT NULL,
    uid_next INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 1,
    -- First UID no session has reported as \Recent yet.
    recent_uid INTEGER NOT NULL DEFAULT 1,
    -- Keywords ever used here, space-separated (FLAGS / PERMANENTFLAGS).
    keywords TEXT NOT NULL DEFAULT '',
    UNIQUE (account_id, name)
);

CREATE TABLE subscriptions (
    account_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (account_id, name)
) WITHOUT ROWID;

-- Message content, stored once per account; the bytes live in a file
-- named by the hash. Metadata is parsed once at ingest.
CREATE TABLE blobs (
    account_id INTEGER NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    refcount INTEGER NOT NULL,
    meta BLOB NOT NULL,
    header BLOB NOT NULL,
    sent_day INTEGER,
    search_headers TEXT NOT NULL,
    search_body TEXT NOT NULL,
    PRIMARY KEY (account_id, hash)
);

CREATE TABLE messages (
    account_id INTEGER NOT NULL,
    mailbox_id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    keywords TEXT NOT NULL,
    internal_date INTEGER NOT NULL,
    internal_tz INTEGER NOT NULL,
    size INTEGER NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (account_id, mailbox_id, uid)
) WITHOUT ROWID;

CREATE INDEX messages_modseq ON messages (account_id, mailbox_id, modseq);

-- Tombstones: what was expunged at which modseq, for sessions catching up.
CREATE TABLE expunged (
    account_id INTEGER NOT NULL,
    mailbox_id INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (account_id, mailbox_id, uid)
) WITHOUT ROWID;

CREATE INDEX expunged_modseq ON expunged (account_id, mailbox_id, modseq);
