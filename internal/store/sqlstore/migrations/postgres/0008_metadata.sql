-- Facts about the store itself, one row each: PostgreSQL's spelling of
-- migrations/sqlite/0008 (store_id, key_check). Keep the two files
-- equivalent.

CREATE TABLE metadata (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
