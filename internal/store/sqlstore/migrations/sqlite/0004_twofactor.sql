-- Two-factor authentication (TOTP). The secret is kept sealed with the
-- server key (sealed), never in plain text; recovery codes only as keyed
-- hashes.
--   username       the login name: root, a cPanel user, or local@domain;
--   account        the accounts row it goes with (ON DELETE CASCADE): the
--                  user's own, or the owning cPanel account of a Webmail
--                  user;
--   last_step      the last time step whose code was accepted (burnt);
--   recovery       JSON array of the unused recovery codes' keyed hashes;
--   failures, failures_since
--                  wrong codes in the current rate-limit window (unix
--                  microseconds, 0 when none);
--   created        unix microseconds.
-- twofactor_issuers: a user's issuer (root's is the system-wide one).

CREATE TABLE twofactor (
    username       TEXT    NOT NULL PRIMARY KEY,
    account        TEXT    NOT NULL REFERENCES accounts (username)
                           ON DELETE CASCADE ON UPDATE CASCADE,
    sealed         BLOB    NOT NULL,
    last_step      INTEGER NOT NULL,
    recovery       TEXT    NOT NULL,
    failures       INTEGER NOT NULL CHECK (failures >= 0),
    failures_since INTEGER NOT NULL,
    created        INTEGER NOT NULL
) STRICT;

-- Listing an account's configurations, and the cascade from accounts.
CREATE INDEX twofactor_account ON twofactor (account);

CREATE TABLE twofactor_issuers (
    username TEXT NOT NULL PRIMARY KEY REFERENCES accounts (username)
                  ON DELETE CASCADE ON UPDATE CASCADE,
    issuer   TEXT NOT NULL
) STRICT;
