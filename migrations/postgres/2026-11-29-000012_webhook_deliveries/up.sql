-- Webhook deliveries: one row per event per subscription that announces it, made by the fan-out
-- (Store::fan_out_events) in the transaction that moves the subscription's cursor past the event, so
-- an event is delivered to a subscription once (unique below) and never skipped. The body is
-- rendered then, in the subscription's dialect, and sent unchanged on every attempt and replay.
-- state: pending (due at due_at), claimed (a worker holds it until due_at: a claim whose worker
-- died is due again then), delivered, failed. attempts counts attempts begun.
CREATE TABLE webhook_deliveries (
    id BYTEA PRIMARY KEY NOT NULL,
    org_id BYTEA NOT NULL REFERENCES organizations (id),
    subscription_id BYTEA NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- The event's public id and position (the event itself may be pruned first).
    event_id BYTEA NOT NULL,
    event_pos BIGINT NOT NULL,
    event_name TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at BIGINT NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE UNIQUE INDEX webhook_deliveries_event ON webhook_deliveries (subscription_id, event_id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (due_at) WHERE state IN ('pending', 'claimed');
CREATE INDEX webhook_deliveries_org ON webhook_deliveries (org_id, created_at, id);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
-- Every attempt of a delivery: when, how long, the answer's status and its first bytes, or why
-- there was none.
CREATE TABLE webhook_attempts (
    delivery_id BYTEA NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status_code INTEGER,
    error TEXT,
    excerpt TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
