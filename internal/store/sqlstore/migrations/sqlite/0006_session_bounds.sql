-- The bounds of a session made through an API token (D24): the token's
-- address list (a JSON array, '[]' for any address), its expiry (unix
-- microseconds, 0 for none) and its two-factor requirement. A session
-- made by redeeming a one-time session inherits them.

ALTER TABLE sessions ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '[]';
ALTER TABLE sessions ADD COLUMN not_after INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN require_otp INTEGER NOT NULL DEFAULT 0 CHECK (require_otp IN (0, 1));
