-- The deletion tables of one namespace (SPEC §18); `{schema}` is `messagedb_ns_<key>`. New
-- namespaces get them with their schema, migration 4 gives them to existing ones, and the
-- writer's late repair to a namespace created by an older messagedb: hence IF NOT EXISTS.
--
-- `deletions` is the log of effective stream.delete / stream.truncate calls: each took the next
-- global position from the namespace's counter row (no message has it); ns.deletions, SSE
-- replays and `head` read it. `stream_floors` keeps the version of each stream whose messages
-- were all deleted: versions never go back, so the next write continues after it (a stream
-- with messages has its version in `messages`).
CREATE TABLE IF NOT EXISTS {schema}.deletions (
    global_position bigint           NOT NULL PRIMARY KEY,
    stream_name     text COLLATE "C" NOT NULL,
    before          bigint           NOT NULL,
    time            bigint           NOT NULL
);

CREATE TABLE IF NOT EXISTS {schema}.stream_floors (
    stream_name text COLLATE "C" NOT NULL PRIMARY KEY,
    version     bigint           NOT NULL
);
