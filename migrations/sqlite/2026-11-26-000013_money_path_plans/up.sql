-- The daily unlock cap counts today's unlocks only, and at most up to the cap (twin of the
-- PostgreSQL migration of the same name, whose function changes SQLite has no need of).
CREATE INDEX movements_unlocks ON movements (user_id, created_at) WHERE kind = 'vault_unlock';
