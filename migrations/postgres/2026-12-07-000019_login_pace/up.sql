-- Per-account login pacing and other paced lanes (issue 27): one row per lane, holding the
-- earliest time (Unix milliseconds) its next attempt may be evaluated. Reserving a slot is
-- one upsert, atomic on both backends, so the spacing holds across instances.
CREATE TABLE login_pace (
    pace_key   TEXT PRIMARY KEY NOT NULL,
    next_at_ms BIGINT NOT NULL
);
