-- API tokens (WHM and cPanel). Only the token's keyed hash (mac) is kept;
-- it is unique and the index by which a presented token is found.
--   acls          JSON array, NULL when nil (every privilege of the owner),
--                 as accounts.acls: nil and empty stay apart;
--   expires_at    unix microseconds, NULL for a token that never expires;
--   whitelist_ips JSON array, '[]' for any address;
--   last_used     unix microseconds, NULL when never used.
-- A token goes with its account (ON DELETE CASCADE).

CREATE TABLE api_tokens (
    service       TEXT    NOT NULL CHECK (service IN ('whostmgr', 'cpanel')),
    username      TEXT    NOT NULL REFERENCES accounts (username)
                          ON DELETE CASCADE ON UPDATE CASCADE,
    name          TEXT    NOT NULL,
    mac           TEXT    NOT NULL,
    acls          TEXT,
    expires_at    INTEGER,
    whitelist_ips TEXT    NOT NULL,
    readonly      INTEGER NOT NULL CHECK (readonly IN (0, 1)),
    require_otp   INTEGER NOT NULL CHECK (require_otp IN (0, 1)),
    created       INTEGER NOT NULL,
    last_used     INTEGER,
    last_used_ip  TEXT    NOT NULL,
    PRIMARY KEY (service, username, name)
) STRICT;

-- The lookup of every token-authenticated request.
CREATE UNIQUE INDEX api_tokens_mac ON api_tokens (mac);
-- The cascade from accounts (the primary key starts with service).
CREATE INDEX api_tokens_username ON api_tokens (username);
-- The purge; tokens that never expire are not in it.
CREATE INDEX api_tokens_expires_at ON api_tokens (expires_at) WHERE expires_at IS NOT NULL;
