-- Facts about the store itself, one row each (sqlstore/metadata.go):
--   store_id   a random id, set once, that a data directory's store mark
--              names, so that a command reaching another database is
--              refused;
--   key_check  a keyed hash of a fixed text under the server key the
--              store's secrets were sealed with, so that a store opened (or
--              restored) with another key is noticed.
-- Keep the two dialects' files equivalent.

CREATE TABLE metadata (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
