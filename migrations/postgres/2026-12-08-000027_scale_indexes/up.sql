-- The console's user search (`GET /v1/admin/users?q=`) matches any part of a username
-- (`username LIKE '%q%'`), which no B-tree answers: without this index every search that
-- finds fewer than a page of users reads the whole users table (issue 31: a sequential scan of
-- 3.7 ms at 10,000 customers, growing with them). A trigram index answers a search of three
-- or more characters from the index; shorter ones still scan (they match many users, so the
-- newest-first scan stops early). pg_trgm is a trusted extension (PostgreSQL 13 and later):
-- the database's owner may create it. It lives in its own schema so that `public` holds only
-- the functions src/store/sql defines (tests/api/live_sql.rs); the index names the operator
-- class by schema, and LIKE needs nothing on the search path (the class indexes the built-in
-- `~~` operator).
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA extensions;
CREATE INDEX users_username_trgm ON users USING gin (username extensions.gin_trgm_ops);
