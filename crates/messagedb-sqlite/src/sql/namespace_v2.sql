-- Namespace schema version 2: the counters that answer ns.info, ns.list and ns.categories
-- without reading the messages (SPEC §16.3). Every transaction that adds or removes messages
-- (write, import, clear) updates them, so they are exact at every commit.
--
-- The counter row gains the namespace's totals: messages, streams with at least one message,
-- and the global position and time of the highest-positioned message (`last_time` NULL when
-- there is none). `categories` has one row per category with messages: its messages and its
-- streams with at least one message. A deletion subtracts what it removed and drops a category
-- row that reaches zero messages.
ALTER TABLE counter ADD COLUMN message_count        INTEGER NOT NULL DEFAULT 0;
ALTER TABLE counter ADD COLUMN stream_count         INTEGER NOT NULL DEFAULT 0;
ALTER TABLE counter ADD COLUMN last_global_position INTEGER NOT NULL DEFAULT 0;
ALTER TABLE counter ADD COLUMN last_time            INTEGER;

CREATE TABLE categories (
    category      TEXT    NOT NULL PRIMARY KEY,
    message_count INTEGER NOT NULL,
    stream_count  INTEGER NOT NULL
) WITHOUT ROWID;

-- Filled from the messages a version-1 database holds (one pass, once).
INSERT INTO categories (category, message_count, stream_count)
SELECT category, count(*), count(DISTINCT stream_name) FROM messages GROUP BY category;

UPDATE counter SET
    message_count        = (SELECT count(*) FROM messages),
    stream_count         = (SELECT coalesce(sum(stream_count), 0) FROM categories),
    last_global_position = coalesce((SELECT max(global_position) FROM messages), 0),
    last_time            = (SELECT time FROM messages ORDER BY global_position DESC LIMIT 1);
