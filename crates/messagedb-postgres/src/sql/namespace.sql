-- The schema of one namespace; `{schema}` is `messagedb_ns_<key>`.
--
-- The columns mirror the embedded backend's. `data` and `metadata` are text, never jsonb (jsonb
-- reorders keys, normalises numbers and rejects \u0000): they hold the JSON exactly as written.
-- `category`, `correlation_category` and `cardinal_hash` (Message DB's hash_64 of the cardinal
-- id, NULL when that id is empty) are derived at write time, so category reads, correlation
-- filters and consumer groups are plain column comparisons. Names sort bytewise (COLLATE "C").
-- `time` is in microseconds.
CREATE SCHEMA {schema};

CREATE TABLE {schema}.messages (
    global_position      bigint           NOT NULL PRIMARY KEY,
    position             bigint           NOT NULL,
    stream_name          text COLLATE "C" NOT NULL,
    category             text COLLATE "C" NOT NULL,
    type                 text COLLATE "C" NOT NULL,
    id                   uuid             NOT NULL,
    data                 text             NOT NULL,
    metadata             text,
    correlation_category text COLLATE "C",
    cardinal_hash        bigint,
    time                 bigint           NOT NULL
);

CREATE UNIQUE INDEX messages_stream_position ON {schema}.messages (stream_name, position);
CREATE UNIQUE INDEX messages_id ON {schema}.messages (id);
CREATE INDEX messages_category ON {schema}.messages (category, global_position);

-- The counters of ns.categories (SPEC §16.3): per category with messages, its messages and its
-- streams with at least one message. Every transaction that adds or removes messages updates
-- them under the namespace's counter-row lock, as it updates `messagedb.counters`; a deletion
-- subtracts what it removed and drops a row that reaches zero messages.
CREATE TABLE {schema}.categories (
    category      text COLLATE "C" NOT NULL PRIMARY KEY,
    message_count bigint           NOT NULL,
    stream_count  bigint           NOT NULL
);
