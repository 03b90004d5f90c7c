-- Registry schema version 1: one row per namespace.
--
-- `key` names the namespace's database file (`ns/<key>.sqlite`); it is random and never reused, so
-- a namespace re-created with the same id never sees the old file. `token_hash` is the lowercase
-- hex SHA-256 of the token. `created_at` is in microseconds since the Unix epoch.
CREATE TABLE namespaces (
    id          TEXT    NOT NULL PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    token_hash  TEXT    NOT NULL,
    description TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
