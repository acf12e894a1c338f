-- The bounds of a session made through an API token (D24), PostgreSQL's
-- spelling of migrations/sqlite/0006: the token's address list (a JSON
-- array, '[]' for any address), its expiry (unix microseconds, 0 for none)
-- and its two-factor requirement. A session made by redeeming a one-time
-- session inherits them. Keep the two files equivalent.

ALTER TABLE sessions ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN not_after BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN require_otp BOOLEAN NOT NULL DEFAULT false;
