-- Rate limits shared by every instance over one database: each instance reserves a batch of a
-- limit's (`bucket`) requests of a key for a minute at a time (one upsert per batch, never one per request), adding
-- what it asked to `asked`; what fits under the limit is granted. A key's older minutes are removed
-- when its next minute begins.
CREATE TABLE rate_windows (
    bucket TEXT NOT NULL,
    key_id BYTEA NOT NULL,
    minute BIGINT NOT NULL,
    asked BIGINT NOT NULL,
    PRIMARY KEY (bucket, key_id, minute)
);
