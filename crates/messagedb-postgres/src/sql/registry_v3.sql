-- Schema version 3 of the `messagedb` schema: the namespace totals of ns.info (SPEC §16.3) join
-- `message_count` in the counter row, kept by the same transactions: the streams with at least
-- one message, and the global position and time of the highest-positioned message (`last_time`
-- NULL when there is none). The migration then gives every namespace schema its `categories`
-- table and fills both from the stored messages (`schema::counters_fill`).
ALTER TABLE messagedb.counters
    ADD COLUMN stream_count         bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_global_position bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_time            bigint;
