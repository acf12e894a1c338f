-- The first cpauth schema, PostgreSQL's spelling of migrations/sqlite/0001.
-- Times are unix microseconds (UTC) in BIGINT; booleans are BOOLEAN (SQLite
-- has 0 or 1); blobs are BYTEA; names are stored as given (callers
-- lowercase them). Keep the two files equivalent: same tables,
-- columns, keys and cascades.

CREATE TABLE accounts (
    username         TEXT    NOT NULL PRIMARY KEY,
    domain           TEXT    NOT NULL,
    owner            TEXT    NOT NULL,
    password_hash    TEXT    NOT NULL,
    suspended        BOOLEAN NOT NULL,
    suspend_reason   TEXT    NOT NULL,
    reseller         BOOLEAN NOT NULL,
    acls             TEXT,   -- JSON array of privilege names; NULL when nil
    contact_email    TEXT    NOT NULL,
    plan             TEXT    NOT NULL,
    created          BIGINT  NOT NULL,
    password_changed BIGINT  NOT NULL
);

-- The domain names are unique across accounts; (name, account) is a key too
-- so that mailboxes can reference the pair and stay on their owner's domains.
CREATE TABLE domains (
    name       TEXT    NOT NULL PRIMARY KEY,
    account    TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    is_primary BOOLEAN NOT NULL,
    UNIQUE (name, account)
);

CREATE INDEX domains_account ON domains (account);

-- Renaming a domain (a changed primary domain) carries its mailboxes along;
-- removing it removes them.
CREATE TABLE mailboxes (
    local         TEXT    NOT NULL,
    domain        TEXT    NOT NULL,
    account       TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    password_hash TEXT    NOT NULL,
    quota_mb      BIGINT  NOT NULL,
    suspended     BOOLEAN NOT NULL,
    created       BIGINT  NOT NULL,
    PRIMARY KEY (local, domain),
    FOREIGN KEY (domain, account) REFERENCES domains (name, account)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE INDEX mailboxes_account ON mailboxes (account);
CREATE INDEX mailboxes_domain_account ON mailboxes (domain, account);

CREATE TABLE access_hashes (
    username TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (username) ON DELETE CASCADE,
    mac      TEXT    NOT NULL,
    sealed   BYTEA   NOT NULL,
    created  BIGINT  NOT NULL
);

CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
