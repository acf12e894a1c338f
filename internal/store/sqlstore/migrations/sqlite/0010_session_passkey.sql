-- The passkey that made or verified a session: its credential ID (the
-- passkeys row's id), NULL for a session no passkey had a part in. It is
-- not a foreign key: removing the passkey ends its sessions explicitly
-- (DELETE ... WHERE passkey = ?, announced through the change feed and
-- written to session_log), which a cascade would do silently.
-- Keep the two dialects' files equivalent.

ALTER TABLE sessions ADD COLUMN passkey BLOB;

-- Ending a passkey's sessions.
CREATE INDEX sessions_passkey ON sessions (passkey);
