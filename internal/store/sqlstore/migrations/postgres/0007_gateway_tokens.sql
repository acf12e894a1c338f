-- Gateway mode: the API tokens a gateway minted at its backend for its own
-- narrow WHM tokens, PostgreSQL's spelling of migrations/sqlite/0007. The
-- backend token is kept only sealed with the server key.
--   token_created unix microseconds: tells the gateway token from one made
--                 later under the same name;
--   acls          JSON array, sorted: the privileges it was minted with.
-- It goes with its account (ON DELETE CASCADE). Keep the two files
-- equivalent.

CREATE TABLE gateway_tokens (
    username      TEXT    NOT NULL REFERENCES accounts (username)
                          ON DELETE CASCADE ON UPDATE CASCADE,
    token_name    TEXT    NOT NULL,
    token_created BIGINT  NOT NULL,
    acls          TEXT    NOT NULL,
    backend_name  TEXT    NOT NULL,
    sealed        BYTEA   NOT NULL,
    created       BIGINT  NOT NULL,
    PRIMARY KEY (username, token_name)
);
