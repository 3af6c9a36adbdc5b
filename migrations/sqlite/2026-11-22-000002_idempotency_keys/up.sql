-- kirim's Idempotency-Key: the first response to a key, per organization, kept 24 hours.
CREATE TABLE idempotency_keys (
    org_id BLOB NOT NULL REFERENCES organizations (id),
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    -- NULL while the first request runs.
    response_status INTEGER,
    response_body TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
