DROP INDEX IF EXISTS users_username_trgm;
