-- Account names are case-insensitive and stored in lower case (see
-- crispin_store::account_name). A name that would meet another account's
-- when folded keeps its case (UPDATE OR IGNORE) and is still found by its
-- exact spelling. SQLite's lower() folds ASCII only, as names from before
-- were; the code folds Unicode for new names.
UPDATE OR IGNORE accounts SET name = lower(name) WHERE name != lower(name);
