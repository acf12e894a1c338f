-- Login sessions. Only the session id's keyed hash (id_hash) is kept, never
-- the id itself; every field is a typed column, never text assembled from
-- client input (the CVE-2026-41940 lesson).
--   account        the accounts row the session goes with (ON DELETE
--                  CASCADE): the user's own, or the owning cPanel account
--                  of a Webmail user (username local@domain);
--   security_token the /cpsessNNNNNNNNNN prefix, unique;
--   created, last_seen, expires
--                  unix microseconds;
--   idle_timeout   microseconds, 0 for no idle limit.

CREATE TABLE sessions (
    id_hash        TEXT    NOT NULL PRIMARY KEY,
    kind           TEXT    NOT NULL CHECK (kind IN ('normal', 'onetime')),
    username       TEXT    NOT NULL,
    account        TEXT    NOT NULL REFERENCES accounts (username)
                           ON DELETE CASCADE ON UPDATE CASCADE,
    service        TEXT    NOT NULL CHECK (service IN ('cpaneld', 'whostmgrd', 'webmaild')),
    security_token TEXT    NOT NULL UNIQUE,
    creator        TEXT    NOT NULL,
    origin         TEXT    NOT NULL,
    method         TEXT    NOT NULL,
    tfa_verified   INTEGER NOT NULL CHECK (tfa_verified IN (0, 1)),
    locale         TEXT    NOT NULL,
    goto_uri       TEXT    NOT NULL,
    created        INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    idle_timeout   INTEGER NOT NULL CHECK (idle_timeout >= 0),
    expires        INTEGER NOT NULL
) STRICT;

-- Ending a user's sessions (DeleteUserSessions).
CREATE INDEX sessions_username ON sessions (username);
-- Listing and ending an account's sessions, and the cascade from accounts.
CREATE INDEX sessions_account ON sessions (account);
-- The purge, in two parts: past the absolute expiry, and idle for longer
-- than the idle timeout (sessions without an idle limit are not in it; the
-- expression must stay written exactly as the purge writes it).
CREATE INDEX sessions_expires ON sessions (expires);
CREATE INDEX sessions_idle_deadline ON sessions (last_seen + idle_timeout) WHERE idle_timeout > 0;
