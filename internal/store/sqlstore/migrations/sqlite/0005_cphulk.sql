-- The brute-force regulator (cPHulk's job): configuration, allow/deny
-- lists, counted failures and blocks. Times are unix microseconds.
--   cphulk_config    key/value, only the keys set (defaults are the
--                    regulator's);
--   cphulk_lists     list 'white' (allow) or 'black' (deny), a normalised
--                    CIDR;
--   cphulk_failures  one row per counted failure, never the secret; id
--                    orders them so that a node can read what the others
--                    counted since it last looked;
--   cphulk_blocks    an address (kind 'ip', 'excessive') or a login name
--                    (kind 'user') refused until "expires".
-- Nothing references accounts: a failure for a user that does not exist
-- is counted all the same.

CREATE TABLE cphulk_config (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE cphulk_lists (
    list    TEXT    NOT NULL CHECK (list IN ('white', 'black')),
    cidr    TEXT    NOT NULL,
    comment TEXT    NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (list, cidr)
) STRICT;

CREATE TABLE cphulk_failures (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    node     TEXT    NOT NULL,
    at       INTEGER NOT NULL,
    service  TEXT    NOT NULL,
    method   TEXT    NOT NULL,
    username TEXT    NOT NULL,
    address  TEXT    NOT NULL,
    weight   INTEGER NOT NULL,
    reason   TEXT    NOT NULL
) STRICT;

-- The start-up read and the purge (by time), the flush by address.
CREATE INDEX cphulk_failures_at ON cphulk_failures (at);
CREATE INDEX cphulk_failures_address ON cphulk_failures (address);

CREATE TABLE cphulk_blocks (
    kind      TEXT    NOT NULL CHECK (kind IN ('ip', 'excessive', 'user')),
    block_key TEXT    NOT NULL,
    username  TEXT    NOT NULL,
    address   TEXT    NOT NULL,
    service   TEXT    NOT NULL,
    reason    TEXT    NOT NULL,
    failures  INTEGER NOT NULL,
    created   INTEGER NOT NULL,
    expires   INTEGER NOT NULL,
    PRIMARY KEY (kind, block_key)
) STRICT;

CREATE INDEX cphulk_blocks_expires ON cphulk_blocks (expires);
