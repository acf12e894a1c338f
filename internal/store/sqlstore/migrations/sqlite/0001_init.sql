-- The first cpauth schema. Times are unix microseconds (UTC); booleans are
-- 0 or 1; names are stored as given (callers lowercase them).

CREATE TABLE accounts (
    username         TEXT    NOT NULL PRIMARY KEY,
    domain           TEXT    NOT NULL,
    owner            TEXT    NOT NULL,
    password_hash    TEXT    NOT NULL,
    suspended        INTEGER NOT NULL CHECK (suspended IN (0, 1)),
    suspend_reason   TEXT    NOT NULL,
    reseller         INTEGER NOT NULL CHECK (reseller IN (0, 1)),
    acls             TEXT,   -- JSON array of privilege names; NULL when nil
    contact_email    TEXT    NOT NULL,
    plan             TEXT    NOT NULL,
    created          INTEGER NOT NULL,
    password_changed INTEGER NOT NULL
) STRICT;

-- The domain names are unique across accounts; (name, account) is a key too
-- so that mailboxes can reference the pair and stay on their owner's domains.
CREATE TABLE domains (
    name       TEXT    NOT NULL PRIMARY KEY,
    account    TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    is_primary INTEGER NOT NULL CHECK (is_primary IN (0, 1)),
    UNIQUE (name, account)
) STRICT;

CREATE INDEX domains_account ON domains (account);

-- Renaming a domain (a changed primary domain) carries its mailboxes along;
-- removing it removes them.
CREATE TABLE mailboxes (
    local         TEXT    NOT NULL,
    domain        TEXT    NOT NULL,
    account       TEXT    NOT NULL REFERENCES accounts (username) ON DELETE CASCADE,
    password_hash TEXT    NOT NULL,
    quota_mb      INTEGER NOT NULL,
    suspended     INTEGER NOT NULL CHECK (suspended IN (0, 1)),
    created       INTEGER NOT NULL,
    PRIMARY KEY (local, domain),
    FOREIGN KEY (domain, account) REFERENCES domains (name, account)
        ON DELETE CASCADE ON UPDATE CASCADE
) STRICT;

CREATE INDEX mailboxes_account ON mailboxes (account);
CREATE INDEX mailboxes_domain_account ON mailboxes (domain, account);

CREATE TABLE access_hashes (
    username TEXT    NOT NULL PRIMARY KEY REFERENCES accounts (username) ON DELETE CASCADE,
    mac      TEXT    NOT NULL,
    sealed   BLOB    NOT NULL,
    created  INTEGER NOT NULL
) STRICT;

CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
