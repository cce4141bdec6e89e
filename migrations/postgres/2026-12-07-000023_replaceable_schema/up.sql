-- The live functions and triggers are source (src/store/sql/*.sql), applied after the
-- versioned migrations whenever their text changes; this row remembers which text is live.
CREATE TABLE replaceable_schema (
    name       TEXT PRIMARY KEY,
    sha256     TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL
);
