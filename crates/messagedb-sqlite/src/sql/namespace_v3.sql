-- Namespace schema version 3: deletion (SPEC §18).
--
-- `deletions` is the log of effective stream.delete / stream.truncate calls: each took the next
-- global position (no message has it); `ns.deletions` and SSE replays read it.
-- `stream_floors` keeps the version of each stream whose messages were all deleted: versions
-- never go back, so the next write continues after it (a stream with messages has its version
-- in `messages`).
CREATE TABLE deletions (
    global_position INTEGER NOT NULL PRIMARY KEY,
    stream_name     TEXT    NOT NULL,
    before          INTEGER NOT NULL,
    time            INTEGER NOT NULL
);

CREATE TABLE stream_floors (
    stream_name TEXT    NOT NULL PRIMARY KEY,
    version     INTEGER NOT NULL
) WITHOUT ROWID;
