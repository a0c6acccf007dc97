-- Finds a message by content: import idempotence, blob bookkeeping.
CREATE INDEX messages_hash ON messages (account_id, hash);
