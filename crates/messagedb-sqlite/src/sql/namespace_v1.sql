-- Namespace schema version 1: the messages of one namespace and its global-position counter.
--
-- `id` is the 16-byte UUID. `data` and `metadata` are the JSON texts exactly as written (never
-- re-encoded). `category` and `correlation_category` are derived at write time so that category
-- reads and correlation filters are plain column comparisons. `time` is in microseconds.
CREATE TABLE messages (
    global_position      INTEGER NOT NULL PRIMARY KEY,
    position             INTEGER NOT NULL,
    stream_name          TEXT    NOT NULL,
    category             TEXT    NOT NULL,
    type                 TEXT    NOT NULL,
    id                   BLOB    NOT NULL,
    data                 TEXT    NOT NULL,
    metadata             TEXT,
    correlation_category TEXT,
    time                 INTEGER NOT NULL
);

CREATE UNIQUE INDEX messages_stream_position ON messages (stream_name, position);
CREATE UNIQUE INDEX messages_id ON messages (id);
CREATE INDEX messages_category ON messages (category, global_position);

-- The next global position to hand out. It only moves forward, so deleting rows (import with
-- force) or importing below the head can never make a position be used twice.
CREATE TABLE counter (
    singleton            INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    next_global_position INTEGER NOT NULL
);
INSERT INTO counter (singleton, next_global_position) VALUES (1, 1);
