-- The passkey that made or verified a session: PostgreSQL's spelling of
-- migrations/sqlite/0010 (see there). Keep the two files equivalent.

ALTER TABLE sessions ADD COLUMN passkey BYTEA;

-- Ending a passkey's sessions.
CREATE INDEX sessions_passkey ON sessions (passkey);
