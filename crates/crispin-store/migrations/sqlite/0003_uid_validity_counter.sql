-- UIDVALIDITY must never repeat for a name (RFC 3501 §2.3.1.1), even when
-- the mailbox that held the highest value is deleted: keep a counter per
-- account that only goes up.
ALTER TABLE accounts ADD COLUMN last_uid_validity INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET last_uid_validity = COALESCE(
    (SELECT MAX(uid_validity) FROM mailboxes WHERE mailboxes.account_id = accounts.account_id), 0);
