-- Schema version 1 of the `messagedb` schema: the registry of namespaces and their counters.
--
-- `key` names the namespace's schema (`messagedb_ns_<key>`); it is random and never reused, so a
-- namespace re-created with the same id never sees the old schema. `token_hash` is the lowercase
-- hex SHA-256 of the token. Times are microseconds since the Unix epoch. Ids sort bytewise
-- (COLLATE "C") like the embedded backend's.
CREATE TABLE messagedb.namespaces (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    key         text             NOT NULL UNIQUE,
    token_hash  text             NOT NULL,
    description text             NOT NULL,
    created_at  bigint           NOT NULL
);

-- One row per namespace. Every write transaction locks its namespace's row (SELECT … FOR
-- UPDATE) until it commits: that serialises the writers of a namespace across all instances, so
-- commit order is global-position order (I4) and the expectedVersion check and the append are
-- one step (I5). The next global position only moves forward. `message_count` is kept exact by
-- the same transactions, so ns.list and ns.delete need no count over the messages.
CREATE TABLE messagedb.counters (
    key                  text   NOT NULL PRIMARY KEY
                                REFERENCES messagedb.namespaces (key) ON DELETE CASCADE,
    next_global_position bigint NOT NULL,
    message_count        bigint NOT NULL
);
