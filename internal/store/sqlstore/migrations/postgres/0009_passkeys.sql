-- Passkeys and security keys (WebAuthn): PostgreSQL's spelling of
-- migrations/sqlite/0009 (see there for the columns). Keep the two files
-- equivalent: same tables, columns, keys, cascades and indexes.

CREATE TABLE passkeys (
    id               BYTEA   NOT NULL PRIMARY KEY,
    username         TEXT    NOT NULL,
    account          TEXT    NOT NULL REFERENCES accounts (username)
                             ON DELETE CASCADE ON UPDATE CASCADE,
    name             TEXT    NOT NULL,
    public_key       BYTEA   NOT NULL,
    attestation_type TEXT    NOT NULL,
    sign_count       BIGINT  NOT NULL CHECK (sign_count >= 0),
    transports       TEXT    NOT NULL,
    aaguid           BYTEA   NOT NULL,
    kind             TEXT    NOT NULL,
    backup_eligible  BOOLEAN NOT NULL,
    backup_state     BOOLEAN NOT NULL,
    user_verified    BOOLEAN NOT NULL,
    clone_warning    BOOLEAN NOT NULL,
    created          BIGINT  NOT NULL,
    last_used        BIGINT  NOT NULL,
    last_used_ip     TEXT    NOT NULL
);

CREATE UNIQUE INDEX passkeys_username_name ON passkeys (username, name);
-- The cascade from accounts.
CREATE INDEX passkeys_account ON passkeys (account);

CREATE TABLE passkey_users (
    username     TEXT    NOT NULL PRIMARY KEY,
    account      TEXT    NOT NULL REFERENCES accounts (username)
                         ON DELETE CASCADE ON UPDATE CASCADE,
    handle       BYTEA   NOT NULL UNIQUE,
    passwordless BOOLEAN NOT NULL,
    created      BIGINT  NOT NULL
);

CREATE INDEX passkey_users_account ON passkey_users (account);

CREATE TABLE passkey_challenges (
    binding  TEXT    NOT NULL PRIMARY KEY,
    purpose  TEXT    NOT NULL,
    username TEXT    NOT NULL,
    session  BYTEA   NOT NULL,
    created  BIGINT  NOT NULL,
    expires  BIGINT  NOT NULL
);

-- The purge.
CREATE INDEX passkey_challenges_expires ON passkey_challenges (expires);
