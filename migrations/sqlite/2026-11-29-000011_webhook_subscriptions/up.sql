-- Webhook subscriptions: an organization's endpoints that receive its events, each in one
-- dialect's bodies and signature (wacrm /api/v1/webhooks, and kirim's and envelope's to come).
-- Secrets are sealed at rest under the store's secret key, bound to the subscription's id (as
-- access tokens are): a JSON list of {id, secret, created_at, expires_at}, every unexpired one
-- signing. cursor: the event log position delivered up to (events made before the subscription
-- are not its).
CREATE TABLE webhook_subscriptions (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES organizations (id),
    dialect TEXT NOT NULL,
    url TEXT NOT NULL,
    -- The dialect's event names, a JSON list.
    events TEXT NOT NULL,
    description TEXT,
    -- What may be shown of the secrets (not secret): a JSON list of {id, created_at, expires_at}.
    secret_info TEXT NOT NULL,
    secrets BLOB NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1,
    failure_count INTEGER NOT NULL DEFAULT 0,
    last_delivery_at BIGINT,
    cursor BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_subscriptions_org ON webhook_subscriptions (org_id, dialect, created_at);
