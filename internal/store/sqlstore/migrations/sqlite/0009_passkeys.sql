-- Passkeys and security keys (WebAuthn).
-- passkeys: one row per credential.
--   id             the credential ID (bytes), the primary key;
--   username       the login name: root, a cPanel user, or local@domain;
--   account        the accounts row it goes with (ON DELETE CASCADE);
--   name           the user's name for it, unique per username;
--   public_key     the COSE-encoded public key;
--   sign_count     the authenticator's signature counter as last seen;
--   transports     JSON array of the authenticator's transports;
--   aaguid         the authenticator model's AAGUID (empty when unknown),
--                  kind its name when known;
--   backup_eligible, backup_state, user_verified
--                  the authenticator data's flags;
--   clone_warning  1 once a counter did not move forward;
--   created, last_used
--                  unix microseconds (last_used 0 when never used).
-- passkey_users: a login name's random WebAuthn user handle (never the
-- login name) and whether it signs in with a passkey alone.
-- passkey_challenges: ceremonies in progress, taken once (DELETE ...
-- RETURNING), keyed by what they are bound to (binding); expires in unix
-- microseconds. They belong to no account: a passwordless login's
-- challenge is issued before anyone is known.
-- Keep the two dialects' files equivalent.

CREATE TABLE passkeys (
    id               BLOB    NOT NULL PRIMARY KEY,
    username         TEXT    NOT NULL,
    account          TEXT    NOT NULL REFERENCES accounts (username)
                             ON DELETE CASCADE ON UPDATE CASCADE,
    name             TEXT    NOT NULL,
    public_key       BLOB    NOT NULL,
    attestation_type TEXT    NOT NULL,
    sign_count       INTEGER NOT NULL CHECK (sign_count >= 0),
    transports       TEXT    NOT NULL,
    aaguid           BLOB    NOT NULL,
    kind             TEXT    NOT NULL,
    backup_eligible  INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),
    backup_state     INTEGER NOT NULL CHECK (backup_state IN (0, 1)),
    user_verified    INTEGER NOT NULL CHECK (user_verified IN (0, 1)),
    clone_warning    INTEGER NOT NULL CHECK (clone_warning IN (0, 1)),
    created          INTEGER NOT NULL,
    last_used        INTEGER NOT NULL,
    last_used_ip     TEXT    NOT NULL
) STRICT;

CREATE UNIQUE INDEX passkeys_username_name ON passkeys (username, name);
-- The cascade from accounts.
CREATE INDEX passkeys_account ON passkeys (account);

CREATE TABLE passkey_users (
    username     TEXT    NOT NULL PRIMARY KEY,
    account      TEXT    NOT NULL REFERENCES accounts (username)
                         ON DELETE CASCADE ON UPDATE CASCADE,
    handle       BLOB    NOT NULL UNIQUE,
    passwordless INTEGER NOT NULL CHECK (passwordless IN (0, 1)),
    created      INTEGER NOT NULL
) STRICT;

CREATE INDEX passkey_users_account ON passkey_users (account);

CREATE TABLE passkey_challenges (
    binding  TEXT    NOT NULL PRIMARY KEY,
    purpose  TEXT    NOT NULL,
    username TEXT    NOT NULL,
    session  BLOB    NOT NULL,
    created  INTEGER NOT NULL,
    expires  INTEGER NOT NULL
) STRICT;

-- The purge.
CREATE INDEX passkey_challenges_expires ON passkey_challenges (expires);
