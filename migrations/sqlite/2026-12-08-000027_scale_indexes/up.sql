-- PostgreSQL gains a trigram index for the console's user search here. SQLite has no index
-- that answers `LIKE '%q%'` (FTS5's trigram tokenizer would need its own table kept in step
-- by triggers): the search scans the users table, which stays small on the deployments
-- SQLite serves. Kept so both backends carry the same migration numbers.
SELECT 1;
