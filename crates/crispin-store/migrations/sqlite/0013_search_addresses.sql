-- The search text of address fields gains a line of their addresses
-- without comments (SEARCH FROM user@domain finds
-- `<user (comment)@ domain>`): content stored before is given it by
-- `backfill_search_headers` in src/sqlite/migrate.rs, once, right after
-- this migration. Nothing changes in the schema.
SELECT 1;
